#!/usr/bin/env node
// For every publishable package: `npm pack --dry-run` ships only dist, README, LICENSE and (for a package
// with a bin) its bin/*.js launchers, publint
// finds no packaging error, and "are the types wrong" resolves every export's types (ESM only: these
// packages ship no CommonJS). Exits 1 naming the package and the problem.
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = join(import.meta.dirname, '..', 'packages');
// The CLI's bin, resolved through its package.json (its exports do not list the file itself).
const attwBin = join(dirname(createRequire(import.meta.url).resolve('@arethetypeswrong/cli/package.json')), 'dist', 'index.js');
let failed = false;
for (const dir of readdirSync(root)) {
  const pkgDir = join(root, dir);
  const pkgPath = join(pkgDir, 'package.json');
  if (!existsSync(pkgPath)) continue;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  if (pkg.private) continue;
  const before = failed;
  failed = false;
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkgDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const files = packed[0].files.map((f) => f.path);
  const stray = files.filter((f) => !(f.startsWith('dist/') || f === 'package.json' || /^(README|LICENSE)/i.test(f) || Object.values(pkg.bin ?? {}).some((b) => b.replace(/^\.\//, '') === f) || (pkg.bin !== undefined && /^bin\/[^/]+\.js$/.test(f))));
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
  const attw = spawnSync(process.execPath, [attwBin, '--pack', '.', '--profile', 'esm-only', '--format', 'json'], { cwd: pkgDir, encoding: 'utf8' });
  const problems = attwProblems(attw);
  for (const problem of problems) {
    failed = true;
    console.error(`${pkg.name}: are-the-types-wrong: ${problem.kind}${problem.entrypoint ? ` (${problem.entrypoint})` : ''}`);
  }
  if (!failed) console.log(`${pkg.name}: ${files.length} files packed, publint and are-the-types-wrong clean`);
  failed = failed || before;
}
process.exit(failed ? 1 : 0);

/** attw's findings; a package whose types it cannot find at all (it exits 0 then) is a problem too. */
function attwProblems(result) {
  let analysis;
  try {
    analysis = JSON.parse(result.stdout).analysis;
  } catch {
    return [{ kind: result.stderr.trim() || 'attw gave no readable output' }];
  }
  if (analysis?.types === false) return [{ kind: 'NoTypes: no type declarations were found for the package' }];
  // The esm-only profile ignores CommonJS resolutions: these packages ship no CommonJS.
  const ignored = new Set(['node10', 'node16-cjs']);
  const problems = (analysis?.problems ?? []).filter((p) => !ignored.has(p.resolutionKind));
  if (problems.length === 0 && result.status !== 0) return [{ kind: `attw exited ${result.status}` }];
  return problems;
}
