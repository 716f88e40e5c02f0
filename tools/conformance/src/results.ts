import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One scenario's outcome in one mode: the suite's own check statuses, counted. */
export interface ScenarioResult {
  readonly scenario: string;
  /** `pass` when no check failed (warnings allowed), `fail` otherwise, or when the scenario left no result. */
  readonly status: 'pass' | 'fail';
  readonly passed: number;
  readonly failed: number;
  readonly warnings: number;
  /** The first failed checks' messages (for the log), at most three. */
  readonly errors: readonly string[];
}

interface Check {
  readonly status?: string;
  readonly name?: string;
  readonly errorMessage?: string;
}

/**
 * Reads the `checks.json` files that `conformance server -o DIR` writes (one folder per scenario,
 * `server-<scenario>-<ISO timestamp>`), for the scenarios named in `scenarios`. A scenario without
 * a folder (it threw before it produced checks) counts as failed.
 */
export async function readResults(dir: string, scenarios: readonly string[]): Promise<ScenarioResult[]> {
  const folders = await readdir(dir).catch(() => [] as string[]);
  const byScenario = new Map<string, string>();
  for (const folder of folders) {
    const match = /^server-(.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/.exec(folder);
    if (match?.[1] !== undefined) byScenario.set(match[1], folder);
  }
  return Promise.all(
    scenarios.map(async (scenario): Promise<ScenarioResult> => {
      const folder = byScenario.get(scenario);
      if (folder === undefined) return { scenario, status: 'fail', passed: 0, failed: 1, warnings: 0, errors: ['the scenario left no result folder (it threw or timed out)'] };
      const text = await readFile(join(dir, folder, 'checks.json'), 'utf8').catch(() => undefined);
      if (text === undefined) return { scenario, status: 'fail', passed: 0, failed: 1, warnings: 0, errors: ['the scenario wrote no checks.json (it threw or timed out)'] };
      const checks = JSON.parse(text) as Check[];
      const failedChecks = checks.filter((c) => c.status === 'FAILURE');
      return {
        scenario,
        status: failedChecks.length === 0 ? 'pass' : 'fail',
        passed: checks.filter((c) => c.status === 'SUCCESS').length,
        failed: failedChecks.length,
        warnings: checks.filter((c) => c.status === 'WARNING').length,
        errors: failedChecks.slice(0, 3).map((c) => `${c.name ?? '?'}: ${c.errorMessage ?? 'failed'}`),
      };
    }),
  );
}

/** What a suite's modes are expected to pass: mode -> scenario -> status. */
export type Expectations = Record<string, Record<string, 'pass' | 'fail'>>;

/** A difference between a run and the expectation file. */
export interface Difference {
  readonly mode: string;
  readonly scenario: string;
  readonly kind: 'regressed' | 'improved' | 'new';
}

/**
 * Compares a run with the expectation: a scenario expected to pass that failed has `regressed`; one
 * expected to fail that passed has `improved` (tighten the file); one the file does not name is `new`
 * (a regression when it failed).
 */
export function compare(results: Readonly<Record<string, readonly ScenarioResult[]>>, expected: Expectations | undefined): Difference[] {
  const differences: Difference[] = [];
  for (const [mode, rows] of Object.entries(results)) {
    for (const row of rows) {
      const want = expected?.[mode]?.[row.scenario];
      if (want === undefined) differences.push({ mode, scenario: row.scenario, kind: row.status === 'pass' ? 'new' : 'regressed' });
      else if (want === 'pass' && row.status === 'fail') differences.push({ mode, scenario: row.scenario, kind: 'regressed' });
      else if (want === 'fail' && row.status === 'pass') differences.push({ mode, scenario: row.scenario, kind: 'improved' });
    }
  }
  return differences;
}

/** A Markdown table: one row per scenario, one column per mode, then a totals row. */
export function formatTable(results: Readonly<Record<string, readonly ScenarioResult[]>>): string {
  const modes = Object.keys(results);
  const scenarios = [...new Set(modes.flatMap((m) => results[m]!.map((r) => r.scenario)))];
  const cell = (mode: string, scenario: string): string => {
    const row = results[mode]!.find((r) => r.scenario === scenario);
    if (row === undefined) return '';
    return row.status === 'pass' ? `pass${row.warnings > 0 ? ` (${row.warnings} warn)` : ''}` : `**FAIL** ${row.failed}`;
  };
  const lines = [`| scenario | ${modes.join(' | ')} |`, `|---|${modes.map(() => '---').join('|')}|`];
  for (const scenario of scenarios) lines.push(`| ${scenario} | ${modes.map((m) => cell(m, scenario)).join(' | ')} |`);
  const totals = modes.map((m) => {
    const rows = results[m]!;
    return `${rows.filter((r) => r.status === 'pass').length}/${rows.length} pass`;
  });
  lines.push(`| **total** | ${totals.join(' | ')} |`);
  return lines.join('\n');
}
