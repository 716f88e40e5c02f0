/**
 * core-scheduler against p-limit, p-queue and Bottleneck, side by side in one run.
 *
 *   npm run bench -w packages/core-scheduler            # table
 *   npm run bench -w packages/core-scheduler -- --json  # the same figures as JSON
 *
 * Every figure is the median of REPEATS runs; the spread (min-max) is printed beside it.
 * Run with --expose-gc (the npm script does) so heap figures are measured after a full GC.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Bottleneck from 'bottleneck';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
// The benchmark measures the built package (dist), as users get it, not the TypeScript sources.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { Scheduler, type SchedulerObserver, type ToolCall } from '@mcp-concurrency/core-scheduler';

const json = process.argv.includes('--json');
const REPEATS = Number(process.env.BENCH_REPEATS ?? 7);
const N = 200_000;
const CONCURRENCY = 10;
const gc = (globalThis as { gc?: () => void }).gc;

const noop = async (): Promise<void> => {};
const sleep50 = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

interface Figure {
  median: number;
  min: number;
  max: number;
}

function summarise(samples: number[]): Figure {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

async function repeat(fn: () => Promise<number>, times = REPEATS): Promise<Figure> {
  await fn(); // warm-up, not counted
  const samples: number[] = [];
  for (let i = 0; i < times; i++) samples.push(await fn());
  return summarise(samples);
}

async function throughput(submit: (n: number) => Promise<unknown>, n = N): Promise<number> {
  gc?.();
  const started = performance.now();
  await submit(n);
  return n / ((performance.now() - started) / 1000);
}

// ---- contenders for no-op throughput -----------------------------------------------------------

function oursGlobal(): (n: number) => Promise<unknown> {
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: 'noop', run: noop }] });
  const call: ToolCall = { tool: 'noop' };
  return (n) => {
    const all = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) all[i] = scheduler.run(call);
    return Promise.all(all);
  };
}

function oursBatch(): (n: number) => Promise<unknown> {
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: 'noop', run: noop }] });
  const call: ToolCall = { tool: 'noop' };
  return (n) => scheduler.runBatch(new Array<ToolCall>(n).fill(call));
}

function oursAdd(): (n: number) => Promise<unknown> {
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY });
  return (n) => {
    const all = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) all[i] = scheduler.add(noop);
    return Promise.all(all);
  };
}

function oursToolLimitObserved(): (n: number) => Promise<unknown> {
  let settled = 0;
  const observer: SchedulerObserver = { onSettled: () => void settled++, onStart: () => {} };
  const scheduler = new Scheduler({
    maxParallel: 100,
    tools: [{ name: 'noop', run: noop, policy: { maxParallel: CONCURRENCY } }],
    observers: [observer],
  });
  const call: ToolCall = { tool: 'noop' };
  return (n) => {
    const all = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) all[i] = scheduler.run(call);
    return Promise.all(all);
  };
}

function pLimitContender(): (n: number) => Promise<unknown> {
  const limit = pLimit(CONCURRENCY);
  return (n) => {
    const all = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) all[i] = limit(noop);
    return Promise.all(all);
  };
}

function pLimitMapContender(): (n: number) => Promise<unknown> {
  const limit = pLimit(CONCURRENCY);
  return (n) => limit.map(new Array<number>(n).fill(0), noop);
}

function pQueueContender(): (n: number) => Promise<unknown> {
  const queue = new PQueue({ concurrency: CONCURRENCY });
  return (n) => {
    const all = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) all[i] = queue.add(noop);
    return Promise.all(all);
  };
}

function bottleneckContender(): (n: number) => Promise<unknown> {
  const limiter = new Bottleneck({ maxConcurrent: CONCURRENCY });
  return (n) => {
    const all = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) all[i] = limiter.schedule(noop);
    return Promise.all(all);
  };
}

// ---- heap bytes per queued task ------------------------------------------------------------------

/** Queue `n` tasks behind `CONCURRENCY` blocked ones; heap growth / n, after a full GC. */
async function bytesPerQueued(queueAll: (n: number, blocker: () => Promise<void>) => Promise<unknown>, n = 100_000): Promise<number> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const blocker = (): Promise<void> => gate;
  gc?.();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const done = queueAll(n, blocker);
  gc?.();
  gc?.();
  const after = process.memoryUsage().heapUsed;
  release();
  await done;
  return (after - before) / n;
}

const MEMORY: Record<string, () => Promise<number>> = {
  'ours (run)': () =>
    bytesPerQueued((n, blocker) => {
      const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: 'b', run: blocker }] });
      const call: ToolCall = { tool: 'b' };
      const all = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) all[i] = scheduler.run(call);
      return Promise.all(all);
    }),
  'ours (runBatch)': () =>
    bytesPerQueued((n, blocker) => {
      const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: 'b', run: blocker }] });
      return scheduler.runBatch(new Array<ToolCall>(n).fill({ tool: 'b' }));
    }),
  'ours (add)': () =>
    bytesPerQueued((n, blocker) => {
      const scheduler = new Scheduler({ maxParallel: CONCURRENCY });
      const all = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) all[i] = scheduler.add(blocker);
      return Promise.all(all);
    }),
  'p-limit': () =>
    bytesPerQueued((n, blocker) => {
      const limit = pLimit(CONCURRENCY);
      const all = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) all[i] = limit(blocker);
      return Promise.all(all);
    }),
  'p-queue': () =>
    bytesPerQueued((n, blocker) => {
      const queue = new PQueue({ concurrency: CONCURRENCY });
      const all = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) all[i] = queue.add(blocker);
      return Promise.all(all);
    }),
};

// ---- 100 timer tasks vs the ideal ----------------------------------------------------------------

async function timerWall(): Promise<number> {
  const scheduler = new Scheduler({ maxParallel: 10, tools: [{ name: 'sleep', run: sleep50 }] });
  const calls = Array.from({ length: 100 }, (): ToolCall => ({ tool: 'sleep' }));
  const started = performance.now();
  await scheduler.runBatch(calls);
  return performance.now() - started;
}

/** The same ten waves of ten 50 ms timers with no limiter at all: what Node's timers allow. */
async function timerWallBare(): Promise<number> {
  const started = performance.now();
  for (let wave = 0; wave < 10; wave++) await Promise.all(Array.from({ length: 10 }, sleep50));
  return performance.now() - started;
}

async function timerWallPLimit(): Promise<number> {
  const limit = pLimit(10);
  const started = performance.now();
  await Promise.all(Array.from({ length: 100 }, () => limit(sleep50)));
  return performance.now() - started;
}

// ---- a 1,000-call random graph: scheduling overhead per call -------------------------------------

function randomGraph(n: number, seed: number): ToolCall[] {
  let state = seed;
  const random = (): number => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, (_, i) => {
    const deps = new Set<string>();
    const fanIn = i === 0 ? 0 : Math.floor(random() * 4);
    for (let d = 0; d < fanIn; d++) deps.add(String(Math.floor(random() * i)));
    return { id: String(i), tool: 'noop', dependsOn: [...deps] };
  });
}

async function graphOverheadUs(): Promise<number> {
  const calls = randomGraph(1000, 42);
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: 'noop', run: noop }] });
  const started = performance.now();
  const results = await scheduler.runGraph(calls);
  const elapsed = performance.now() - started;
  if (results.some((r) => r.status !== 'ok')) throw new Error('graph run failed');
  return (elapsed * 1000) / calls.length;
}

async function graphBaselineUs(): Promise<number> {
  // The same 1,000 no-op calls with no graph: what the graph bookkeeping adds is the difference.
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: 'noop', run: noop }] });
  const calls = Array.from({ length: 1000 }, (_, i): ToolCall => ({ id: String(i), tool: 'noop' }));
  const started = performance.now();
  await scheduler.runBatch(calls);
  return ((performance.now() - started) * 1000) / calls.length;
}

// ---- run -----------------------------------------------------------------------------------------
//
// Each throughput and heap sample runs in a fresh child process (a clean V8 heap), contenders
// alternating, so one contender's garbage never lands on another's clock.


const THROUGHPUT: Record<string, () => (n: number) => Promise<unknown>> = {
  'mcp-concurrency run() (global limit)': oursGlobal,
  'mcp-concurrency runBatch() (global limit)': oursBatch,
  'mcp-concurrency run() (tool limit + observer)': oursToolLimitObserved,
  'mcp-concurrency add(fn) (global limit)': oursAdd,
  'p-limit': pLimitContender,
  'p-limit map()': pLimitMapContender,
  'p-queue': pQueueContender,
};

const workerIndex = process.argv.indexOf('--worker');
if (workerIndex >= 0) {
  const kind = process.argv[workerIndex + 1]!;
  const name = process.argv[workerIndex + 2]!;
  let value: number;
  if (kind === 'throughput') {
    // Steady state: three full warm-up rounds (JIT tiers settle), then the median of three.
    const submit = THROUGHPUT[name]!();
    for (let i = 0; i < 3; i++) await throughput(submit);
    value = summarise([await throughput(submit), await throughput(submit), await throughput(submit)]).median;
  } else {
    value = await MEMORY[name]!();
  }
  console.log(JSON.stringify({ value }));
  process.exit(0);
}

function inChild(kind: string, name: string): number {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--worker', kind, name], {
    encoding: 'utf8',
  });
  return (JSON.parse(out.trim().split('\n').pop()!) as { value: number }).value;
}

function alternate(kind: string, names: string[], times: number): Record<string, Figure> {
  const samples: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < times; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) samples[name]!.push(inChild(kind, name));
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarise(v)]));
}

const log = (line: string): void => {
  if (!json) console.error(line);
};

log(`node ${process.version}, ${REPEATS} repeats, median (min-max), each sample in a fresh process`);
log('no-op throughput...');
const tput = alternate('throughput', Object.keys(THROUGHPUT), REPEATS);
log('Bottleneck (2,000 tasks: it runs about 450 per second)...');
tput['Bottleneck'] = await repeat(() => throughput(bottleneckContender(), 2_000), 3);

log('heap bytes per queued task...');
const memory = alternate('memory', Object.keys(MEMORY), 3);
log('100 x 50 ms timers at concurrency 10...');
const timer = await repeat(timerWall, 5);
const timerPLimit = await repeat(timerWallPLimit, 5);
const timerBare = await repeat(timerWallBare, 5);
log('1,000-call random graph...');
const graph = await repeat(graphOverheadUs, 9);
const graphBase = await repeat(graphBaselineUs, 9);

const pl = tput['p-limit']!.median;
const results = {
  node: process.version,
  repeats: REPEATS,
  throughput: Object.fromEntries(Object.entries(tput).map(([k, f]) => [k, { tasksPerSecond: f, vsPLimit: f.median / pl }])),
  bytesPerQueuedTask: Object.fromEntries(
    Object.entries(memory).map(([k, f]) => [k, { bytes: f, vsPLimit: f.median / memory['p-limit']!.median }]),
  ),
  timers: {
    idealMs: 500,
    ours: timer,
    oursVsIdeal: timer.median / 500,
    pLimit: timerPLimit,
    pLimitVsIdeal: timerPLimit.median / 500,
    nodeTimersAlone: timerBare,
    nodeTimersAloneVsIdeal: timerBare.median / 500,
  },
  graph: { calls: 1000, usPerCall: graph, usPerCallWithoutGraph: graphBase, graphOverheadUsPerCall: graph.median - graphBase.median },
  targets: {
    throughputVsPLimit_runBatch: { target: '>= 3.5', actual: tput['mcp-concurrency runBatch() (global limit)']!.median / pl },
    throughputVsPLimit_run: { target: '>= 1.95', actual: tput['mcp-concurrency run() (global limit)']!.median / pl },
    throughputVsPLimit_add: { target: '>= 1.9', actual: tput['mcp-concurrency add(fn) (global limit)']!.median / pl },
    bytesVsPLimit_runBatch: { target: '<= 0.5', actual: memory['ours (runBatch)']!.median / memory['p-limit']!.median },
    bytesVsPLimit_run: { target: '<= 0.5', actual: memory['ours (run)']!.median / memory['p-limit']!.median },
    toolLimitObserverVsPLimit: { target: '>= 1.0', actual: tput['mcp-concurrency run() (tool limit + observer)']!.median / pl },
    timersVsIdeal: { target: '<= 1.01', actual: timer.median / 500 },
  },
};

if (json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  const fmt = (f: Figure, digits = 0): string => `${f.median.toFixed(digits)} (${f.min.toFixed(digits)}-${f.max.toFixed(digits)})`;
  console.log('\nNo-op async tasks, concurrency 10 (tasks/s)');
  console.table(Object.fromEntries(Object.entries(tput).map(([k, f]) => [k, { 'tasks/s': fmt(f), 'vs p-limit': (f.median / pl).toFixed(2) }])));
  console.log('Heap bytes per queued task (100,000 queued)');
  console.table(Object.fromEntries(Object.entries(memory).map(([k, f]) => [k, { bytes: fmt(f), 'vs p-limit': (f.median / memory['p-limit']!.median).toFixed(2) }])));
  console.log('100 tasks x 50 ms timer, concurrency 10 (ideal 500 ms)');
  console.table({
    ours: { 'wall ms': fmt(timer, 1), 'vs ideal': (timer.median / 500).toFixed(3) },
    'p-limit': { 'wall ms': fmt(timerPLimit, 1), 'vs ideal': (timerPLimit.median / 500).toFixed(3) },
    'no limiter (10 waves of Promise.all)': { 'wall ms': fmt(timerBare, 1), 'vs ideal': (timerBare.median / 500).toFixed(3) },
  });
  console.log('1,000-call random graph (µs per call)');
  console.table({ graph: { 'µs/call': fmt(graph, 2) }, 'same calls, no graph': { 'µs/call': fmt(graphBase, 2) } });
  console.log('Targets');
  console.table(Object.fromEntries(Object.entries(results.targets).map(([k, v]) => [k, { target: v.target, actual: v.actual.toFixed(3) }])));
}
