#!/usr/bin/env node
// For every publishable package: `npm pack --dry-run` ships only dist, README and LICENSE,
// and publint finds no packaging error. Exits 1 naming the package and the problem.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = join(import.meta.dirname, '..', 'packages');
let failed = false;
for (const dir of readdirSync(root)) {
  const pkgDir = join(root, dir);
  const pkgPath = join(pkgDir, 'package.json');
  if (!existsSync(pkgPath)) continue;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  if (pkg.private) continue;
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkgDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const files = packed[0].files.map((f) => f.path);
  const stray = files.filter((f) => !(f.startsWith('dist/') || f === 'package.json' || /^(README|LICENSE)/i.test(f)));
  const missing = ['README.md', 'LICENSE'].filter((f) => !files.includes(f));
  if (stray.length > 0 || missing.length > 0) {
    failed = true;
    console.error(`${pkg.name}: pack ${stray.length ? `ships ${stray.join(', ')}` : ''}${missing.length ? ` lacks ${missing.join(', ')}` : ''}`);
  }
  if (files.some((f) => f.endsWith('.test.js') || f.endsWith('.test.d.ts'))) {
    failed = true;
    console.error(`${pkg.name}: pack ships compiled tests`);
  }
  const { messages } = await publint({ pkgDir, level: 'warning', strict: true });
  for (const message of messages) {
    failed = true;
    console.error(`${pkg.name}: publint ${message.type}: ${formatMessage(message, pkg)}`);
  }
  if (!failed) console.log(`${pkg.name}: ${files.length} files packed, publint clean`);
}
process.exit(failed ? 1 : 0);
