import { Scheduler, type ToolCall } from '@mcp-concurrency/core-scheduler';
import pLimit from 'p-limit';
import type { ScenarioResult } from '../model.js';
import { criticalPathMs } from '../stats.js';
import { record, summarise, type Samples, type ScenarioOptions } from './common.js';

/**
 * A dependency graph of tool calls with a critical path: wall time against the bound
 * max(critical path, total work / concurrency). Ours starts each call as soon as its own dependencies
 * finish; the anchor is the seed's approach (wave by wave: run every ready call, wait for all, repeat)
 * with p-limit; and one by one in topological order.
 */
export async function graphScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const n = options.sizes.graphCalls ?? (options.quick ? 24 : 60);
  const concurrency = 10;
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const durations = Array.from({ length: n }, () => Math.round(20 + random() * 60));
  const deps = durations.map((_, i) => {
    const set = new Set<number>();
    if (i > 0) for (let d = 0; d < Math.floor(random() * 3); d++) set.add(Math.floor(random() * i));
    return [...set];
  });
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const bound = Math.max(criticalPathMs(durations, deps), durations.reduce((a, b) => a + b, 0) / concurrency);
  const samples: Samples = {};
  for (let r = 0; r < options.repeats; r++) {
    options.progress.step(`graph: one by one (run ${r + 1}/${options.repeats})`);
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await sleep(durations[i]!);
    record(samples, 'sequential', performance.now() - t0, 0);

    options.progress.step(`graph: wave by wave with p-limit (run ${r + 1}/${options.repeats})`);
    const limit = pLimit(concurrency);
    const done = new Set<number>();
    t0 = performance.now();
    while (done.size < n) {
      const wave = durations.map((_, i) => i).filter((i) => !done.has(i) && deps[i]!.every((d) => done.has(d)));
      await Promise.all(wave.map((i) => limit(() => sleep(durations[i]!))));
      wave.forEach((i) => done.add(i));
    }
    record(samples, 'p-limit (wave by wave)', performance.now() - t0, 0);

    options.progress.step(`graph: mcp-concurrency runGraph (run ${r + 1}/${options.repeats})`);
    const scheduler = new Scheduler({ maxParallel: concurrency, tools: [{ name: 'step', run: (ms: number) => sleep(ms) }] });
    const calls: ToolCall[] = durations.map((ms, i) => ({ id: String(i), tool: 'step', params: ms, dependsOn: deps[i]!.map(String) }));
    t0 = performance.now();
    const results = await scheduler.runGraph(calls);
    record(samples, 'mcp-concurrency', performance.now() - t0, results.filter((x) => x.status !== 'ok').length);
  }
  return {
    scenario: 'graph',
    title: `Dependency graph: ${n} calls of 20-80 ms, concurrency ${concurrency}; bound = max(critical path, work / ${concurrency}) = ${bound.toFixed(0)} ms`,
    contenders: summarise(samples, bound, new Set(['mcp-concurrency']), { anchor: 'p-limit (wave by wave)', slowdown: options.slowdown }),
  };
}
