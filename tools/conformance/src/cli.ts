#!/usr/bin/env node
/**
 * `npm run conformance`: the official MCP conformance suite's server scenarios, under Node 22, in
 * three modes (directly against the everything fixture; through `mcp-concurrency proxy` with an
 * HTTP upstream; with a stdio upstream), a table of scenario x mode, and a gate:
 *   - exit 1 when a scenario fails directly in a suite whose direct run must pass, or when any
 *     scenario that `expected.json` says passes in a mode fails there (a regression);
 *   - scenarios that now pass but are expected to fail are listed: tighten the file with
 *     `--update-expected`.
 * Options: --suite ID (repeatable; 2025-11-25, 2026-07-28), --mode MODE (repeatable), --update-expected,
 * --expected FILE, --out DIR (default reports/conformance), --node PATH (or CONFORMANCE_NODE).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureNode22 } from './node22.js';
import { compare, formatTable, type Expectations, type ScenarioResult } from './results.js';
import { MODES, runMode, SUITES, type Mode } from './run.js';

const workspace = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(workspace, '..', '..');
const log = (line: string): void => void process.stderr.write(`conformance: ${line}\n`);

const { values } = parseArgs({
  options: {
    suite: { type: 'string', multiple: true },
    mode: { type: 'string', multiple: true },
    'update-expected': { type: 'boolean', default: false },
    expected: { type: 'string', default: join(workspace, 'expected.json') },
    out: { type: 'string', default: join(root, 'reports', 'conformance') },
    node: { type: 'string' },
  },
});

const suites = values.suite === undefined ? SUITES : SUITES.filter((s) => values.suite!.includes(s.id));
const modes = values.mode === undefined ? MODES : MODES.filter((m) => values.mode!.includes(m));
if (suites.length === 0) throw new Error(`--suite expects one of ${SUITES.map((s) => s.id).join(', ')}, got ${values.suite!.join(', ')}`);
if (modes.length === 0) throw new Error(`--mode expects one of ${MODES.join(', ')}, got ${values.mode!.join(', ')}`);

const proxyCli = join(root, 'packages', 'mcp-adapter', 'dist', 'cli.js');
if (!existsSync(proxyCli)) throw new Error(`${proxyCli} is missing: build it first (npm run conformance does)`);
const node22 = values.node ?? process.env['CONFORMANCE_NODE'] ?? (await ensureNode22({ cacheDir: join(root, '.tmp', 'conformance'), log }));
const expectedAll = existsSync(values.expected) ? (JSON.parse(await readFile(values.expected, 'utf8')) as { suites?: Record<string, Expectations> }) : {};
// SIGINT / SIGTERM (CI's `timeout`, Ctrl-C) stop the suite, the proxy and the fixture before exiting.
const interrupted = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => interrupted.abort(new Error(`interrupted by ${signal}`)));
const report: Record<string, Record<string, ScenarioResult[]>> = {};
const markdown: string[] = [];
let failing = false;

async function runSuites(): Promise<void> {
  for (const suite of suites) {
    const expected = expectedAll.suites?.[suite.id];
    const results: Record<string, ScenarioResult[]> = {};
    for (const mode of modes) {
      const started = Date.now();
      log(`${suite.id} ${mode}: running ${suite.label}`);
      const run = await runMode({
        suite,
        mode: mode as Mode,
        node22,
        proxyCli,
        proxyConfig: join(workspace, 'proxy.yaml'),
        outDir: values.out,
        knownScenarios: Object.keys(expected?.[mode] ?? {}),
        signal: interrupted.signal,
      });
      results[mode] = run.results;
      const passed = run.results.filter((r) => r.status === 'pass').length;
      log(`${suite.id} ${mode}: ${passed}/${run.results.length} scenarios pass (${((Date.now() - started) / 1000).toFixed(1)} s${run.timedOut ? ', TIMED OUT' : ''}); log: ${run.log}`);
      if (mode === 'direct' && suite.directMustPass) {
        for (const row of run.results.filter((r) => r.status === 'fail')) {
          failing = true;
          log(`${suite.id} direct: ${row.scenario} FAILS against the fixture: ${row.errors.join('; ')}`);
        }
      }
    }
    report[suite.id] = results;
    const table = `### ${suite.id}: ${suite.label}\n\n${formatTable(results)}\n`;
    markdown.push(table);
    process.stdout.write(`\n${table}\n`);
    for (const difference of compare(results, expected)) {
      if (difference.kind === 'regressed') {
        if (!values['update-expected']) failing = true;
        const row = results[difference.mode]!.find((r) => r.scenario === difference.scenario);
        process.stdout.write(`REGRESSION ${suite.id} ${difference.mode} ${difference.scenario}: ${row?.errors.join('; ') ?? ''}\n`);
      } else {
        process.stdout.write(`${difference.kind === 'improved' ? 'now passes (tighten expected.json with --update-expected)' : 'new scenario, passes'}: ${suite.id} ${difference.mode} ${difference.scenario}\n`);
      }
    }
  }
}

try {
  await runSuites();
} catch (error) {
  if (!interrupted.signal.aborted) throw error;
  log(`stopped: ${interrupted.signal.reason instanceof Error ? interrupted.signal.reason.message : 'interrupted'}`);
  process.exit(130);
}

await mkdir(values.out, { recursive: true });
await writeFile(join(values.out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(values.out, 'table.md'), markdown.join('\n'));
if (values['update-expected']) {
  const next = { ...expectedAll, suites: { ...expectedAll.suites } } as { suites: Record<string, Expectations> };
  for (const [suiteId, results] of Object.entries(report)) {
    next.suites[suiteId] = { ...next.suites[suiteId] };
    for (const [mode, rows] of Object.entries(results)) next.suites[suiteId][mode] = Object.fromEntries(rows.map((r) => [r.scenario, r.status]));
  }
  const ordered = Object.fromEntries(SUITES.filter((s) => next.suites[s.id] !== undefined).map((s) => [s.id, next.suites[s.id]]));
  await writeFile(values.expected, `${JSON.stringify({ ...next, suites: ordered }, null, 2)}\n`);
  log(`wrote ${values.expected}`);
}
log(failing ? 'FAILED: see the lines above' : `every mode is at or above ${values.expected}`);
process.exit(failing ? 1 : 0);
