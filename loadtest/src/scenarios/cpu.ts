import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ConcurrencyLimiter, Scheduler, type Tool, type ToolResult } from '@mcp-concurrency/core-scheduler';
import { scriptTool } from '@mcp-concurrency/mcp-adapter';
import { WorkerPool, workerTool } from '@mcp-concurrency/pool-worker';
import type { ScenarioResult } from '../model.js';
import { idealMs, spread } from '../stats.js';
import { sha256Rounds } from './cpu-hash.js';
import { record, summarise, type Samples, type ScenarioOptions } from './common.js';

const HASH = new URL('./cpu-hash.js', import.meta.url);
/** The seed's `thread_pool_size`. */
const SEED_POOL = 20;

/**
 * CPU-bound tool calls (SHA-256 over 1 MiB, repeated to a set duration): the seed's thread-pool claim
 * against the number of cores. One by one on the main thread (the baseline); the seed's way ported
 * as is (a scheduler with 20 slots running a synchronous tool: no parallelism, the loop frozen);
 * ours (a worker tool on a pool of `cores` threads, the scheduler queueing on its limiter); worker
 * threads sized like the seed's pool (20, oversubscribed); script processes, `cores` at once. Each
 * against the physical limit ceil(N / cores) x single-call time, with the event-loop delay p99.
 */
export async function cpuScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const n = options.sizes.cpuCalls ?? (options.quick ? 8 : 16);
  const targetMs = options.quick ? 50 : 100;
  const cores = availableParallelism();
  const bytes = 1024 * 1024;
  let t0 = performance.now();
  sha256Rounds({ bytes, rounds: 3 });
  const rounds = Math.max(1, Math.round(targetMs / ((performance.now() - t0) / 3)));
  const args = { bytes, rounds };
  const singles: number[] = [];
  for (let i = 0; i < 3; i++) {
    t0 = performance.now();
    sha256Rounds(args);
    singles.push(performance.now() - t0);
  }
  const single = spread(singles).median;

  const pool = new WorkerPool({ maxThreads: cores, minThreads: cores });
  const wide = new WorkerPool({ maxThreads: SEED_POOL, minThreads: SEED_POOL });
  const parameters = { bytes: { type: 'integer' }, rounds: { type: 'integer' } } as const;
  const onPool = await workerTool(pool, { name: 'hash', module: HASH, export: 'sha256Rounds', parameters, policy: { limiters: ['threads'] } });
  const onWide = await workerTool(wide, { name: 'hash', module: HASH, export: 'sha256Rounds', parameters });
  const script = scriptTool({ name: 'hash', description: 'hash', command: process.execPath, args: [fileURLToPath(HASH), '{{bytes}}', '{{rounds}}'], parameters });
  const onMain: Tool = { name: 'hash', run: () => sha256Rounds(args) };
  const schedulers: Record<string, () => Scheduler> = {
    [`main thread, ${SEED_POOL} slots (the seed's pool as is)`]: () => new Scheduler({ maxParallel: SEED_POOL, tools: [onMain] }),
    [`mcp-concurrency worker tool (${cores} threads)`]: () => new Scheduler({ maxParallel: SEED_POOL, tools: [onPool], limiters: { threads: pool.limiter } }),
    [`worker threads, ${SEED_POOL} (seed's size)`]: () => new Scheduler({ maxParallel: SEED_POOL, tools: [onWide] }),
    [`script processes, ${cores} at once`]: () => new Scheduler({ maxParallel: SEED_POOL, tools: [{ ...script, policy: { limiters: ['threads'] } }], limiters: { threads: new ConcurrencyLimiter(cores) } }),
  };
  const samples: Samples = {};
  const loopDelay: Record<string, number[]> = {};
  /** Wall time and event-loop delay p99 of one contender's batch. */
  const measure = async (name: string, work: () => Promise<number>): Promise<void> => {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    // The histogram's first tick only sets its baseline: let it tick before the work can block it.
    await new Promise((r) => setTimeout(r, 30));
    const start = performance.now();
    const errors = await work();
    const wall = performance.now() - start;
    await new Promise((r) => setTimeout(r, 20));
    histogram.disable();
    record(samples, name, wall, errors);
    (loopDelay[name] ??= []).push(histogram.percentile(99) / 1e6);
  };
  const failed = (results: readonly ToolResult[]): number => results.filter((r) => r.status !== 'ok').length;
  try {
    for (let r = 0; r < options.repeats; r++) {
      options.progress.step(`cpu: one by one on the main thread (run ${r + 1}/${options.repeats})`);
      await measure('sequential', async () => {
        for (let i = 0; i < n; i++) sha256Rounds(args);
        return 0;
      });
      for (const [name, make] of Object.entries(schedulers)) {
        options.progress.step(`cpu: ${name} (run ${r + 1}/${options.repeats})`);
        const scheduler = make();
        await measure(name, async () => failed(await scheduler.runBatch(Array.from({ length: n }, () => ({ tool: 'hash', params: args })))));
        await scheduler.close();
      }
    }
  } finally {
    await Promise.all([pool.close(), wide.close()]);
  }
  const ours = `mcp-concurrency worker tool (${cores} threads)`;
  // No anchor: not gated (on a shared 2-core machine, wall-time ratios of CPU-bound work follow the other jobs' load).
  const contenders = summarise(samples, idealMs(n, single, cores), new Set([ours]), { slowdown: options.slowdown }).map((c) => ({
    ...c,
    loopDelayP99Ms: spread(loopDelay[c.contender] ?? []),
    note: c.contender === 'sequential' ? 'on the main thread' : undefined,
  }));
  return {
    scenario: 'cpu',
    title: `CPU-bound tools: ${n} x SHA-256 over 1 MiB x ${rounds} (${single.toFixed(0)} ms each), ${cores} cores; ideal = ceil(${n} / ${cores}) x ${single.toFixed(0)} ms`,
    contenders,
  };
}
