/**
 * pool-worker in one run: N CPU-bound calls (SHA-256 over 1 MiB, repeated so one call takes about
 * 100 ms) on the main thread, on a WorkerPool and as script processes, side by side. Each against the
 * physical limit ceil(N / cores) x single-call time, with the event-loop delay (p99, max) meanwhile.
 *
 *   npm run bench -w packages/pool-worker [-- --json]     (BENCH_CALLS=8 BENCH_REPEATS=5)
 */
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
// The benchmark measures the built package, as users get it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { WorkerPool } from '@mcp-concurrency/pool-worker';

const TOOLS = new URL('../src/fixtures/tools.mjs', import.meta.url);
const PROCESS = fileURLToPath(new URL('./hash-process.mjs', import.meta.url));
const json = process.argv.includes('--json');
const N = Number(process.env['BENCH_CALLS'] ?? 8);
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const cores = availableParallelism();
const log = (s: string): void => void (json || console.error(s));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const run = promisify(execFile);

const { sha256 } = (await import(TOOLS.href)) as { sha256: (a: { bytes: number; rounds: number }) => string };
const bytes = 1024 * 1024;
let t = performance.now();
sha256({ bytes, rounds: 5 });
const rounds = Math.max(1, Math.round(100 / ((performance.now() - t) / 5)));
const args = { bytes, rounds };
const singles: number[] = [];
for (let i = 0; i < 5; i++) {
  t = performance.now();
  sha256(args);
  singles.push(performance.now() - t);
}
const single = median(singles);
const ideal = Math.ceil(N / cores) * single;
log(`${N} calls of SHA-256 over 1 MiB x ${rounds} (${single.toFixed(1)} ms each), ${cores} cores: ideal ${ideal.toFixed(0)} ms`);

const pool = new WorkerPool({ maxThreads: cores, minThreads: cores });
await Promise.all(Array.from({ length: cores }, () => pool.run(TOOLS, 'sha256', { bytes: 1, rounds: 1 })));

/** Up to `limit` at once, in order. */
async function bounded(limit: number, work: () => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, N) }, async () => {
    while (next++ < N) await work();
  }));
}

const contenders: Record<string, () => Promise<unknown>> = {
  'main thread': async () => {
    for (let i = 0; i < N; i++) sha256(args);
  },
  'pool-worker': () => Promise.all(Array.from({ length: N }, () => pool.run(TOOLS, 'sha256', args))),
  [`script processes (${cores} at once)`]: () => bounded(cores, () => run(process.execPath, [PROCESS, String(bytes), String(rounds)])),
};
const figures: Record<string, { wall: number[]; p99: number[]; max: number[] }> = {};
for (let r = 0; r < REPEATS; r++) {
  // Rotate the order so no contender always runs on a warmer (or busier) machine.
  const names = Object.keys(contenders);
  for (const name of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    // The histogram's first tick only sets its baseline: let it tick before the work can block it.
    await new Promise((resolve) => setTimeout(resolve, 30));
    t = performance.now();
    await contenders[name]!();
    const wall = performance.now() - t;
    // One more turn of the loop so a delay at the very end is recorded.
    await new Promise((resolve) => setTimeout(resolve, 20));
    histogram.disable();
    const entry = (figures[name] ??= { wall: [], p99: [], max: [] });
    entry.wall.push(wall);
    entry.p99.push(histogram.percentile(99) / 1e6);
    entry.max.push(histogram.max / 1e6);
    log(`  run ${r + 1}/${REPEATS} ${name}: ${wall.toFixed(0)} ms`);
  }
}
await pool.close();

const rows = Object.entries(figures).map(([name, f]) => ({
  contender: name,
  wallMs: median(f.wall),
  vsIdeal: median(f.wall) / ideal,
  loopDelayP99Ms: median(f.p99),
  loopDelayMaxMs: median(f.max),
}));
if (json) {
  console.log(JSON.stringify({ calls: N, cores, singleMs: single, idealMs: ideal, repeats: REPEATS, rows }, null, 2));
} else {
  console.log(`\n| ${N} x SHA-256 (${single.toFixed(0)} ms each), ${cores} cores, ideal ${ideal.toFixed(0)} ms, median of ${REPEATS} | wall ms | wall / ideal | event-loop delay p99 ms | max ms |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const row of rows) {
    console.log(`| ${row.contender} | ${row.wallMs.toFixed(0)} | ${row.vsIdeal.toFixed(2)} | ${row.loopDelayP99Ms.toFixed(1)} | ${row.loopDelayMaxMs.toFixed(1)} |`);
  }
}
