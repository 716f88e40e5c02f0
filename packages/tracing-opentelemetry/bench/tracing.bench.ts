/**
 * No-op tool throughput through the scheduler with tracing off, on with the always-on sampler and
 * on with a 10% ratio sampler, against no observer at all. Each sample runs in its own child
 * process (the AsyncLocalStorage context manager, once used, slows every promise of its process for
 * good, so variants cannot share one), variants alternating, median of REPEATS.
 * Targets: off within 1% of no observer; always-on within 20%.
 *
 *   npm run bench -w packages/tracing-opentelemetry [-- --json]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Scheduler, type SchedulerObserver, type Tool, type ToolCall } from '@mcp-concurrency/core-scheduler';
// The benchmark measures the built packages, as users get them.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { TracingObserver } from '@mcp-concurrency/tracing-opentelemetry';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { tracingFromEnv } from '@mcp-concurrency/tracing-opentelemetry/sdk';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

const VARIANTS = {
  none: 'no observer',
  off: 'tracing off (tracingFromEnv with no OTEL_TRACES_EXPORTER: nothing attached)',
  noop: 'observer on the API without an SDK (no-op tracer)',
  always: 'on, always-on sampler',
  ratio: 'on, parent-based 10% ratio sampler',
} as const;
type Variant = keyof typeof VARIANTS;
const N = 100_000;
const ROUNDS = 5;

async function sample(variant: Variant): Promise<number> {
  const noop: Tool = { name: 'noop', run: async () => {} };
  let observer: SchedulerObserver | undefined;
  let tool = noop;
  if (variant === 'off') {
    const tracing = await tracingFromEnv({ env: {} });
    if (tracing !== undefined) throw new Error('tracing should be off');
  } else if (variant === 'noop') {
    const tracing = new TracingObserver({ tracer: trace.getTracer('bench') });
    [observer, tool] = [tracing, tracing.wrap(noop)];
  } else if (variant === 'always' || variant === 'ratio') {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    // Spans go through the batch processor to an exporter that drops them: the SDK's cost without the network's.
    const discard: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
    const sampler: Sampler = variant === 'always' ? new AlwaysOnSampler() : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) });
    const provider = new BasicTracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor(discard)] });
    const tracing = new TracingObserver({ tracer: provider.getTracer('bench') });
    [observer, tool] = [tracing, tracing.wrap(noop)];
  }
  const scheduler = new Scheduler({ maxParallel: 10, tools: [tool], observers: observer === undefined ? [] : [observer] });
  const call: ToolCall = { tool: 'noop' };
  const round = async (): Promise<number> => {
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    const all = new Array<Promise<unknown>>(N);
    for (let i = 0; i < N; i++) all[i] = scheduler.run(call);
    await Promise.all(all);
    return N / ((performance.now() - started) / 1000);
  };
  for (let i = 0; i < 2; i++) await round();
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(await round());
  return median(rates);
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

const child = process.argv.indexOf('--variant');
if (child >= 0) {
  console.log(JSON.stringify(await sample(process.argv[child + 1] as Variant)));
} else {
  const json = process.argv.includes('--json');
  const repeats = Number(process.env['BENCH_REPEATS'] ?? 7);
  const self = fileURLToPath(import.meta.url);
  const samples = Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
  const order = Object.keys(VARIANTS) as Variant[];
  for (let r = 0; r < repeats; r++) {
    // Rotate the order each repeat so no variant always runs first or last.
    for (let k = 0; k < order.length; k++) {
      const variant = order[(k + r) % order.length]!;
      const out = execFileSync(process.execPath, [...process.execArgv, self, '--variant', variant], { encoding: 'utf8' });
      samples[variant].push(Number(out.trim().split('\n').at(-1)));
    }
  }
  const none = median(samples.none);
  const rows = order.map((v) => ({
    variant: v,
    description: VARIANTS[v],
    callsPerSecond: Math.round(median(samples[v])),
    vsNone: median(samples[v]) / none,
  }));
  const result = {
    node: process.version,
    calls: N,
    repeats,
    rows,
    targets: { off: 'vsNone >= 0.99', always: 'vsNone >= 0.80' },
  };
  if (json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`No-op tool calls through the scheduler, concurrency 10, ${N} calls, median of ${repeats} processes (each the median of ${ROUNDS} rounds)`);
    console.table(Object.fromEntries(rows.map((r) => [r.description, { 'calls/s': r.callsPerSecond, 'vs no observer': r.vsNone.toFixed(3) }])));
  }
}
