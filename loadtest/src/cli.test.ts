import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToCompletion } from '@mcp-concurrency/mcp-adapter/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Baseline } from './baseline.js';
import type { Report } from './model.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const BASELINE = fileURLToPath(new URL('../baseline.quick.json', import.meta.url));

const run = (args: string[]): ReturnType<typeof runToCompletion> => runToCompletion([CLI, ...args]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpc-loadtest-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the harness, end to end', () => {
  it('a quick run of every scenario passes the committed baseline with generous gates, and writes every report', async () => {
    const json = join(dir, 'report.json');
    const { code, stdout, stderr } = await run(['--quick', '--repeat', '1', '--baseline', BASELINE, '--max-regression', '50%', '--json', json, '--markdown', join(dir, 'r.md'), '--html', join(dir, 'r.html')]);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toContain('No regression against');
    const report = JSON.parse(await readFile(json, 'utf8')) as Report;
    expect(report.scenarios.map((s) => s.scenario)).toEqual(['http-seed', 'http-fanout', 'pg-sleep', 'pg-queries', 'rate', 'graph', 'mcp-parallel', 'mcp-load', 'cpu']);
    for (const scenario of report.scenarios) for (const c of scenario.contenders.filter((x) => x.ours)) expect(c.errors, `${scenario.scenario}/${c.contender}`).toBe(0);
    const rate = report.scenarios.find((s) => s.scenario === 'rate')!;
    for (const c of rate.contenders.filter((x) => x.ours && x.note === undefined)) expect(c.windowsOverBudget!.median, c.contender).toBe(0);
    expect(await readFile(join(dir, 'r.md'), 'utf8')).toContain('| contender |');
    expect(await readFile(join(dir, 'r.html'), 'utf8')).toContain('<svg');
    expect(await readFile(join(dir, 'http-seed-timeline.svg'), 'utf8')).toContain('<rect');
  }, 170_000);

  it('exits 1 with a plain explanation when a figure regressed', async () => {
    const baseline: Baseline = { createdAt: 'test', figures: { 'graph/mcp-concurrency': { vsAnchor: 1_000 } } };
    const file = join(dir, 'strict.json');
    await writeFile(file, JSON.stringify(baseline));
    const { code, stdout } = await run(['--scenario', 'graph', '--quick', '--repeat', '1', '--baseline', file]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/graph\/mcp-concurrency: speed against its anchor fell from 1000\.00x to \d+\.\d\dx \(\d+\.\d% worse; at most 25% allowed\)/);
  }, 60_000);

  it('the documented allowance catches a contender made 2x slower', async () => {
    const { code, stdout } = await run(['--scenario', 'http', '--quick', '--repeat', '3', '--baseline', BASELINE, '--self-test-slowdown', '2']);
    expect(code, stdout).toBe(1);
    expect(stdout).toMatch(/http-seed\/mcp-concurrency: speed against its anchor fell from \d\.\d\dx to \d\.\d\dx \(\d+\.\d% worse; at most 25% allowed\)/);
  }, 120_000);

  it('exits 2 on bad usage, naming the problem', async () => {
    const unknown = await run(['--scenario', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown scenario nope');
    const repeat = await run(['--repeat', 'zero']);
    expect(repeat.code).toBe(2);
    expect(repeat.stderr).toContain('--repeat expects a whole number');
    expect((await run(['--update-baseline'])).code).toBe(2);
    expect((await run(['--no-such-flag'])).code).toBe(2);
    expect((await run(['--max-regression', 'lots'])).code).toBe(2);
    expect((await run(['--self-test-slowdown', '0.5'])).code).toBe(2);
    const calls = await run(['--calls=-3']);
    expect(calls.code).toBe(2);
    expect(calls.stderr).toContain('--calls expects a number >= 1, got "-3"');
  });

  it('takes sizes as options', async () => {
    const json = join(dir, 'sized.json');
    const { code } = await run(['--scenario', 'graph', '--graph-calls', '8', '--repeat', '1', '--json', json]);
    expect(code).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as Report;
    expect(report.scenarios[0]!.title).toContain('8 calls');
  });
});
