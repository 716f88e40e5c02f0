#!/usr/bin/env node
// The `mcp-concurrency` command. npm links a package's bin at install time, before anything is built, so
// the link points at this small committed file, which loads the compiled CLI.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('mcp-concurrency: the CLI is not built yet (dist/cli.js is missing). In the repository, run `npm run build`.\n');
  process.exit(1);
}
await import(cli.href);
