/**
 * No-op task throughput with the Prometheus observer attached vs none, in one run, alternating,
 * median of REPEATS. Target: at most 15% slower.
 *
 *   npm run bench -w packages/metrics-prometheus [-- --json]
 */
// The benchmark measures the built packages, as users get them.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { PrometheusMetrics } from '@mcp-concurrency/metrics-prometheus';
import { Scheduler, type ToolCall } from '@mcp-concurrency/core-scheduler';
import { Registry } from 'prom-client';

const json = process.argv.includes('--json');
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 9);
const N = 100_000;
const noop = async (): Promise<void> => {};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function make(observed: boolean): () => Promise<number> {
  const scheduler = new Scheduler({ maxParallel: 10, tools: [{ name: 'noop', run: noop }] });
  if (observed) new PrometheusMetrics({ registry: new Registry() }).attach(scheduler);
  const call: ToolCall = { tool: 'noop' };
  return async () => {
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    const all = new Array<Promise<unknown>>(N);
    for (let i = 0; i < N; i++) all[i] = scheduler.run(call);
    await Promise.all(all);
    return N / ((performance.now() - started) / 1000);
  };
}

const bare = make(false);
const observed = make(true);
for (let i = 0; i < 3; i++) {
  await bare();
  await observed();
}
const samples = { bare: [] as number[], observed: [] as number[] };
for (let r = 0; r < REPEATS; r++) {
  if (r % 2 === 0) {
    samples.bare.push(await bare());
    samples.observed.push(await observed());
  } else {
    samples.observed.push(await observed());
    samples.bare.push(await bare());
  }
}
const result = {
  node: process.version,
  tasks: N,
  bareTasksPerSecond: Math.round(median(samples.bare)),
  observedTasksPerSecond: Math.round(median(samples.observed)),
  slowdown: 1 - median(samples.observed) / median(samples.bare),
  target: 'slowdown <= 0.15',
};
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`No-op tasks through the scheduler, concurrency 10, median of ${REPEATS}`);
  console.table({
    'no observer': { 'tasks/s': result.bareTasksPerSecond },
    'PrometheusMetrics attached': { 'tasks/s': result.observedTasksPerSecond, slowdown: `${(result.slowdown * 100).toFixed(1)}%` },
  });
}
