#!/usr/bin/env node
/**
 * Runs the "everything" fixture as a process:
 *   node dist/everything-cli.js                  serve over stdio (one connection)
 *   node dist/everything-cli.js --http [PORT]    serve Streamable HTTP on 127.0.0.1 (port 0 by default);
 *                                                prints `listening on http://127.0.0.1:PORT/mcp` on stdout
 * Ends on SIGINT / SIGTERM, or when stdin closes (stdio).
 */
import { parseArgs } from 'node:util';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { createEverythingServer } from './everything.js';
import { startEverythingHttp } from './everything-http.js';

const { values } = parseArgs({ options: { http: { type: 'string' } } });
const stop = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});

if (values.http !== undefined) {
  const port = Number(values.http || 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--http expects a port number 0-65535, got "${values.http}"`);
  const fixture = await startEverythingHttp({ port });
  process.stdout.write(`listening on ${fixture.url}\n`);
  await stop;
  await fixture.close();
} else {
  const serving = serveStdio(() => createEverythingServer());
  await Promise.race([stop, new Promise<void>((resolve) => process.stdin.once('end', () => resolve()))]);
  await serving.close();
}
process.exit(0);
