#!/usr/bin/env node
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { redisService, startPostgres, type PostgresService } from '@mcp-concurrency/test-services';
import { compare, parseRegression, toBaseline, type Baseline } from './baseline.js';
import type { Report, ScenarioResult } from './model.js';
import { Progress } from './progress.js';
import { markdown, terminalTable } from './report/format.js';
import { charts, html } from './report/html.js';
import type { ScenarioOptions } from './scenarios/common.js';
import { cpuScenario } from './scenarios/cpu.js';
import { graphScenario } from './scenarios/graph.js';
import { httpScenario } from './scenarios/http.js';
import { mcpScenario } from './scenarios/mcp.js';
import { postgresScenario } from './scenarios/postgres.js';
import { rateScenario } from './scenarios/rate.js';

const SCENARIOS = ['http', 'postgres', 'rate', 'graph', 'mcp', 'cpu'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const USAGE = `npm run loadtest -- [options]

Runs each scenario with sequential execution, mcp-concurrency, p-limit, p-queue and Bottleneck side by
side, against real servers on 127.0.0.1 (mock HTTP servers, Postgres, Redis), and reports speedups,
efficiency against the ideal and rate-limit compliance as judged by the server's own record. The gate
(--baseline) judges ratios measured side by side: our speed against each scenario's anchor (p-limit doing
the same work, or the MCP SDK alone), and compliance.

Options:
  --scenario NAME          ${SCENARIOS.join(', ')} (repeatable; default all)
  --quick                  CI-sized run (about a minute)
  --repeat N               runs per figure; the median is reported with its range (default 3)
  --calls N                calls in the large HTTP fan-out (default 100, quick 30)
  --latency MS             the mock HTTP server's latency (default 200, quick 100)
  --graph-calls N          calls in the dependency graph (default 60, quick 24)
  --rate-seconds S         how long each limiter is driven past its budget (default 4, quick 2)
  --cpu-calls N            CPU-bound calls in the cpu scenario (default 16, quick 8)
  --json FILE              every figure as JSON
  --markdown FILE          a Markdown summary (for a CI job summary)
  --html FILE              a page with the tables and SVG charts (charts also written beside it)
  --baseline FILE          compare ratios with this baseline and exit 1 on a regression
  --max-regression PCT     allowed drop in our speed against each scenario's anchor, same run (default 25%)
  --self-test-slowdown X   multiply our contenders' wall times by X: the gate must then fail (X = 2)
  --update-baseline        write the run's ratios to --baseline
  -h, --help               this text

Exit codes: 0 ok, 1 a figure regressed against the baseline, 2 bad usage, 3 a scenario had errors.
`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', multiple: true },
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      calls: { type: 'string' },
      latency: { type: 'string' },
      'graph-calls': { type: 'string' },
      'rate-seconds': { type: 'string' },
      'cpu-calls': { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'string' },
      html: { type: 'string' },
      baseline: { type: 'string' },
      'max-regression': { type: 'string', default: '25%' },
      'self-test-slowdown': { type: 'string' },
      'update-baseline': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const chosen = (values.scenario ?? [...SCENARIOS]) as ScenarioName[];
  const unknown = chosen.filter((s) => !SCENARIOS.includes(s));
  if (unknown.length > 0) throw new UsageError(`Unknown scenario ${unknown.join(', ')} (choose from ${SCENARIOS.join(', ')})`);
  const repeats = values.repeat === undefined ? 3 : Number(values.repeat);
  if (!Number.isInteger(repeats) || repeats < 1) throw new UsageError(`--repeat expects a whole number >= 1, got "${values.repeat}"`);
  let maxRegression: number;
  try {
    maxRegression = parseRegression(values['max-regression']!);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values['update-baseline'] && values.baseline === undefined) throw new UsageError('--update-baseline needs --baseline FILE');

  const progress = new Progress();
  const size = (flag: string, value: string | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${flag} expects a number >= ${min}, got "${value}"`);
    return n;
  };
  const rateSeconds = size('rate-seconds', values['rate-seconds'], 0.5);
  const slowdown = size('self-test-slowdown', values['self-test-slowdown'], 1) ?? 1;
  const options: ScenarioOptions = {
    quick: values.quick!,
    repeats,
    progress,
    slowdown,
    sizes: {
      calls: size('calls', values.calls, 1),
      latencyMs: size('latency', values.latency, 1),
      graphCalls: size('graph-calls', values['graph-calls'], 2),
      rateMs: rateSeconds === undefined ? undefined : rateSeconds * 1000,
      cpuCalls: size('cpu-calls', values['cpu-calls'], 1),
    },
  };
  const services: Record<string, string> = {};
  const scenarios: ScenarioResult[] = [];
  let postgres: PostgresService | undefined;
  try {
    for (const name of chosen) {
      progress.step(`${name}: starting`);
      switch (name) {
        case 'http':
          scenarios.push(...(await httpScenario(options)));
          break;
        case 'postgres':
          postgres ??= await startPostgres();
          services['postgres'] = postgres.source;
          scenarios.push(...(await postgresScenario(options, postgres)));
          break;
        case 'rate': {
          const redis = redisService();
          services['redis'] = redis.url === undefined ? `none (${redis.skipReason})` : 'REDIS_URL';
          scenarios.push(await rateScenario(options, redis.url));
          break;
        }
        case 'graph':
          scenarios.push(await graphScenario(options));
          break;
        case 'mcp':
          scenarios.push(...(await mcpScenario(options)));
          break;
        case 'cpu':
          scenarios.push(await cpuScenario(options));
          break;
      }
      progress.done(`${name}: done`);
    }
  } finally {
    await postgres?.stop();
  }

  const report: Report = { startedAt: new Date().toISOString(), node: process.version, repeats, quick: options.quick, services, scenarios };
  let regressions: string[] = [];
  if (values.baseline !== undefined && !values['update-baseline']) {
    const baseline = JSON.parse(await readFile(values.baseline, 'utf8')) as Baseline;
    regressions = compare(baseline, toBaseline(report), maxRegression).map((r) => r.explanation);
  }
  process.stdout.write(`${terminalTable(report)}\n`);
  if (values.json) await write(values.json, JSON.stringify({ ...report, regressions }, null, 2));
  if (values.markdown) await write(values.markdown, markdown(report, regressions));
  if (values.html) {
    await write(values.html, html(report, regressions));
    for (const [file, svg] of Object.entries(charts(report))) await write(join(dirname(values.html), file), svg);
  }
  if (values['update-baseline']) {
    await write(values.baseline!, `${JSON.stringify(toBaseline(report), null, 2)}\n`);
    process.stdout.write(`\nBaseline written to ${values.baseline}\n`);
  }
  const errors = scenarios.flatMap((s) => s.contenders.filter((c) => c.ours && c.errors > 0).map((c) => `${s.scenario}/${c.contender}: ${c.errors} error(s)`));
  if (regressions.length > 0) {
    process.stdout.write(`\nRegressions against ${values.baseline} (ratios, at most ${(maxRegression * 100).toFixed(0)}% worse allowed):\n${regressions.map((r) => `  - ${r}`).join('\n')}\n`);
    return 1;
  }
  if (errors.length > 0) {
    process.stdout.write(`\nErrors in our contenders:\n${errors.map((e) => `  - ${e}`).join('\n')}\n`);
    return 3;
  }
  if (values.baseline !== undefined && !values['update-baseline']) process.stdout.write(`\nNo regression against ${values.baseline}.\n`);
  return 0;
}

class UsageError extends Error {}

async function write(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`loadtest: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof UsageError || String((error as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) process.stderr.write(`\n${USAGE}`);
    const usage = error instanceof UsageError || String((error as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
    process.exit(usage ? 2 : 1);
  },
);
