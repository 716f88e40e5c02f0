import { ConcurrencyLimiter, McpConcurrencyError, Scheduler, type Tool, type ToolContext } from '@mcp-concurrency/core-scheduler';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TraceState, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TracingObserver } from './observer.js';
import { extractMeta, injectMeta, sqlTraceComment, traceHeaders } from './propagation.js';

// The API's context manager is process-wide: the one global these tests set, and remove afterwards.
const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => context.disable());

const propagator = new W3CTraceContextPropagator();
let exporter: InMemorySpanExporter;
let provider: BasicTracerProvider;
beforeEach(() => {
  exporter = new InMemorySpanExporter();
  provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
});

const tracer = () => provider.getTracer('test');
const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const only = (name: string): ReadableSpan => {
  const found = spans().filter((s) => s.name === name);
  expect(found).toHaveLength(1);
  return found[0]!;
};
const events = (span: ReadableSpan) => span.events.map((e) => [e.name, e.attributes]);
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

function setup(tools: Tool[], options: ConstructorParameters<typeof Scheduler>[0] = {}, recordContent = false) {
  const observer = new TracingObserver({ tracer: tracer(), recordContent, maxContentLength: 20 });
  const scheduler = new Scheduler({ ...options, tools: tools.map((t) => observer.wrap(t)), observers: [observer] });
  return { observer, scheduler };
}

describe('TracingObserver spans', () => {
  it('an ok call: execute_tool span, child of the submitter, with the GenAI attributes and our detail', async () => {
    const { scheduler, observer } = setup([{ name: 'echo', run: (p: unknown) => p }], { limiters: {} });
    const parent = tracer().startSpan('agent turn');
    const result = await context.with(trace.setSpan(context.active(), parent), () => scheduler.run({ id: 'c1', tool: 'echo', params: { q: 1 } }));
    parent.end();
    expect(result.status).toBe('ok');
    const span = only('execute_tool echo');
    expect(span.kind).toBe(SpanKind.INTERNAL);
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'echo',
      'gen_ai.tool.call.id': 'c1',
      'mcp_concurrency.call.status': 'ok',
      'mcp_concurrency.call.attempts': 1,
    });
    expect(span.attributes['mcp_concurrency.call.queued_ms']).toBeTypeOf('number');
    expect(span.attributes['gen_ai.tool.call.arguments']).toBeUndefined();
    expect(span.attributes['error.type']).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    // The first start is queued_ms: no event for it (events mark what differs from the plain path).
    expect(events(span)).toEqual([]);
    expect(observer.openSpans).toBe(0);
  });

  it('a tool error: error.type and mcp_concurrency.error.code tool_error, status ERROR with the message', async () => {
    const { scheduler } = setup([{ name: 'boom', run: () => { throw new Error('disk on fire'); } }]);
    const result = await scheduler.run({ tool: 'boom' });
    expect(result.error?.code).toBe('tool_error');
    const span = only('execute_tool boom');
    expect(span.attributes).toMatchObject({ 'error.type': 'tool_error', 'mcp_concurrency.error.code': 'tool_error', 'mcp_concurrency.call.status': 'error' });
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'disk on fire' });
  });

  it('a timeout: which deadline fired and its ms, as attributes and an event', async () => {
    const { scheduler } = setup([{ name: 'slow', run: (_p, ctx: ToolContext) => sleep(10_000, ctx.signal) }]);
    const result = await scheduler.run({ tool: 'slow', timeoutMs: 20 });
    expect(result.status).toBe('timeout');
    const span = only('execute_tool slow');
    expect(span.attributes).toMatchObject({
      'error.type': 'timeout',
      'mcp_concurrency.call.status': 'timeout',
      'mcp_concurrency.deadline': 'run',
      'mcp_concurrency.deadline_ms': 20,
    });
    expect(events(span)).toContainEqual(['mcp_concurrency.deadline', { 'mcp_concurrency.deadline': 'run', 'mcp_concurrency.deadline_ms': 20 }]);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('a queue deadline is told apart from a run deadline', async () => {
    const { scheduler } = setup([{ name: 'slow', run: (_p, ctx: ToolContext) => sleep(10_000, ctx.signal) }], { maxParallel: 1 });
    const [first, second] = await scheduler.runBatch([{ tool: 'slow', timeoutMs: 60 }, { tool: 'slow', queueTimeoutMs: 10 }]);
    expect([first!.status, second!.error?.code]).toEqual(['timeout', 'queue_timeout']);
    const queued = spans().find((s) => s.attributes['mcp_concurrency.error.code'] === 'queue_timeout')!;
    expect(queued.attributes).toMatchObject({ 'mcp_concurrency.deadline': 'queue', 'mcp_concurrency.deadline_ms': 10, 'mcp_concurrency.call.attempts': 0 });
  });

  it('a cancelled call', async () => {
    const { scheduler } = setup([{ name: 'slow', run: (_p, ctx: ToolContext) => sleep(10_000, ctx.signal) }]);
    const controller = new AbortController();
    const pending = scheduler.run({ tool: 'slow' }, { signal: controller.signal });
    controller.abort();
    expect((await pending).status).toBe('cancelled');
    const span = only('execute_tool slow');
    expect(span.attributes).toMatchObject({ 'error.type': 'cancelled', 'mcp_concurrency.call.status': 'cancelled' });
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('a call refused with queue_full gets a span that ends when it is refused, before any call ran', async () => {
    const { scheduler } = setup([{ name: 'slow', run: () => sleep(20) }], { maxParallel: 1, maxQueued: 1 });
    const results = await scheduler.runBatch([{ tool: 'slow' }, { tool: 'slow' }, { id: 'x', tool: 'slow' }]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'rejected']);
    const refused = spans().find((s) => s.attributes['error.type'] === 'queue_full')!;
    expect(refused.attributes).toMatchObject({ 'gen_ai.tool.call.id': 'x', 'mcp_concurrency.call.status': 'rejected', 'mcp_concurrency.call.attempts': 0 });
    // Refused while the batch was submitted: its span ends before the first call (20 ms) ends.
    const ns = (t: [number, number]): number => t[0] * 1e9 + t[1];
    const firstEnd = Math.min(...spans().filter((s) => s !== refused).map((s) => ns(s.endTime)));
    expect(ns(refused.endTime)).toBeLessThan(firstEnd);
    expect(spans()).toHaveLength(3);
  });

  it('a retried call: one span, a retry event per retry with attempt, delay and cause, an attempt event per later attempt', async () => {
    let attempts = 0;
    const flaky: Tool = {
      name: 'flaky',
      policy: { retry: { retries: 2, minDelayMs: 1 } },
      run: () => {
        if (++attempts < 3) throw new McpConcurrencyError('http_error', 'HTTP 503', { retryable: true });
        return 'done';
      },
    };
    const { scheduler } = setup([flaky], { random: () => 0.5 });
    const result = await scheduler.run({ tool: 'flaky' });
    expect(result).toMatchObject({ status: 'ok', attempts: 3 });
    const span = only('execute_tool flaky');
    expect(span.attributes['mcp_concurrency.call.attempts']).toBe(3);
    const retries = span.events.filter((e) => e.name === 'mcp_concurrency.retry').map((e) => e.attributes);
    expect(retries).toEqual([
      { 'mcp_concurrency.attempt': 2, 'mcp_concurrency.retry.delay_ms': expect.any(Number), 'mcp_concurrency.error.code': 'http_error' },
      { 'mcp_concurrency.attempt': 3, 'mcp_concurrency.retry.delay_ms': expect.any(Number), 'mcp_concurrency.error.code': 'http_error' },
    ]);
    expect(span.events.filter((e) => e.name === 'mcp_concurrency.attempt').map((e) => e.attributes!['mcp_concurrency.attempt'])).toEqual([2, 3]);
  });

  it('each limiter wait: which limiter, how long', async () => {
    const gate = new ConcurrencyLimiter(1);
    const { scheduler } = setup([{ name: 'api', run: () => sleep(15), policy: { limiters: ['gate'] } }], { limiters: { gate } });
    await scheduler.runBatch([{ id: 'a', tool: 'api' }, { id: 'b', tool: 'api' }]);
    const waits = Object.fromEntries(
      spans().map((s) => [s.attributes['gen_ai.tool.call.id'], s.events.filter((e) => e.name === 'mcp_concurrency.limiter_wait').map((e) => e.attributes!)]),
    );
    expect(waits.a).toEqual([{ 'mcp_concurrency.limiter.name': 'gate', 'mcp_concurrency.limiter.waited_ms': 0 }]);
    expect(waits.b).toHaveLength(1);
    // b waited for a's permit: at least most of a's 15 ms sleep (timers may fire a little early).
    expect(waits.b![0]!['mcp_concurrency.limiter.waited_ms']).toBeGreaterThan(5);
  });

  it('a call of an unknown tool: a span without the caller-sent name (bounded cardinality)', async () => {
    const { scheduler } = setup([{ name: 'echo', run: () => 1 }]);
    expect((await scheduler.run({ id: 'u', tool: 'x'.repeat(500) })).error?.code).toBe('unknown_tool');
    const span = only('execute_tool');
    expect(span.attributes).toEqual(expect.objectContaining({ 'error.type': 'unknown_tool', 'gen_ai.operation.name': 'execute_tool' }));
    expect(span.attributes['gen_ai.tool.name']).toBeUndefined();
  });

  it('a skipped dependent gets its own span naming dependency_failed', async () => {
    const { scheduler } = setup([{ name: 'boom', run: () => { throw new Error('no'); } }, { name: 'echo', run: () => 1 }]);
    await scheduler.runGraph([{ id: 'a', tool: 'boom' }, { id: 'b', tool: 'echo', dependsOn: ['a'] }]);
    const skipped = only('execute_tool echo');
    expect(skipped.attributes).toMatchObject({ 'gen_ai.tool.call.id': 'b', 'mcp_concurrency.call.status': 'skipped', 'error.type': 'dependency_failed' });
  });

  it('records arguments and results only when opted in, cut to maxContentLength', async () => {
    const { scheduler } = setup([{ name: 'echo', run: (p: unknown) => p }], {}, true);
    await scheduler.run({ tool: 'echo', params: { text: 'a'.repeat(100) } });
    const span = only('execute_tool echo');
    expect(span.attributes['gen_ai.tool.call.arguments']).toBe(`${JSON.stringify({ text: 'a'.repeat(100) }).slice(0, 20)}…`);
    expect(span.attributes['gen_ai.tool.call.result']).toBe(span.attributes['gen_ai.tool.call.arguments']);
  });
});

describe('a wrapped tool runs inside its call span', () => {
  it('so the headers, _meta and SQL comment it writes name that span, even when it started from the queue', async () => {
    const seen: { spanId?: string; headers: Record<string, string>; meta: unknown; comment: string }[] = [];
    const tool: Tool = {
      name: 'probe',
      run: async () => {
        await sleep(5);
        seen.push({
          spanId: trace.getActiveSpan()?.spanContext().spanId,
          headers: traceHeaders({ propagator }),
          meta: injectMeta({ progressToken: 1 }, { propagator }),
          comment: sqlTraceComment({ propagator }),
        });
      },
    };
    // maxParallel 1: the second call starts from the first one's completion, not from its submitter.
    const { scheduler } = setup([tool], { maxParallel: 1 });
    await scheduler.runBatch([{ id: 'a', tool: 'probe' }, { id: 'b', tool: 'probe' }]);
    const byId = Object.fromEntries(spans().map((s) => [s.attributes['gen_ai.tool.call.id'], s.spanContext()]));
    expect(seen.map((s) => s.spanId)).toEqual([byId.a!.spanId, byId.b!.spanId]);
    for (const [i, id] of ['a', 'b'].entries()) {
      const traceparent = `00-${byId[id]!.traceId}-${byId[id]!.spanId}-01`;
      expect(seen[i]!.headers).toEqual({ traceparent });
      expect(seen[i]!.meta).toEqual({ progressToken: 1, traceparent });
      expect(seen[i]!.comment).toBe(`/*traceparent='${traceparent}'*/`);
    }
  });

  it('with a sampler that records nothing, still carries the (unsampled) context and exports nothing', async () => {
    provider = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    let headers: Record<string, string> = {};
    const { scheduler, observer } = setup([{ name: 'probe', run: () => void (headers = traceHeaders({ propagator })) }]);
    await scheduler.run({ tool: 'probe' });
    expect(spans()).toHaveLength(0);
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(observer.openSpans).toBe(0);
  });

  it('keeps the tool\'s other fields (a described tool\'s description and parameters, its policy)', () => {
    const observer = new TracingObserver({ tracer: tracer() });
    const described = { name: 'd', description: 'a tool', parameters: { q: { type: 'string' } }, policy: { maxParallel: 2 }, run: () => 1 };
    expect(observer.wrap(described)).toEqual({ ...described, run: expect.any(Function) });
  });

  it('runs as it is under a scheduler the observer is not attached to', async () => {
    const observer = new TracingObserver({ tracer: tracer() });
    const scheduler = new Scheduler({ tools: [observer.wrap({ name: 'probe', run: () => trace.getActiveSpan() })] });
    expect((await scheduler.run({ tool: 'probe' })).value).toBeUndefined();
  });
});

describe('propagation', () => {
  const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };

  it('extractMeta reads the W3C keys of _meta as the remote parent, and nothing else', () => {
    const meta = { traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-01`, tracestate: 'rojo=00f067aa0ba902b7', other: 'x' };
    const extracted = trace.getSpanContext(extractMeta(meta, { propagator, context: ROOT_CONTEXT }))!;
    expect(extracted).toMatchObject({ ...spanContext, isRemote: true });
    expect(extracted.traceState?.serialize()).toBe('rojo=00f067aa0ba902b7');
    expect(trace.getSpanContext(extractMeta({ traceparent: 42 }, { propagator, context: ROOT_CONTEXT }))).toBeUndefined();
    expect(trace.getSpanContext(extractMeta(undefined, { propagator, context: ROOT_CONTEXT }))).toBeUndefined();
  });

  it('injectMeta leaves _meta as it is when no span is active', () => {
    const meta = { progressToken: 1 };
    expect(injectMeta(meta, { propagator, context: ROOT_CONTEXT })).toBe(meta);
    expect(sqlTraceComment({ propagator, context: ROOT_CONTEXT })).toBe('');
  });

  it('sqlTraceComment: a tracestate cannot close the comment (sqlcommenter encoding)', () => {
    const hostile = trace.setSpanContext(ROOT_CONTEXT, { ...spanContext, traceState: new TraceState("a=x*/;drop'table") });
    const comment = sqlTraceComment({ propagator, context: hostile });
    expect(comment.startsWith('/*')).toBe(true);
    expect(comment.slice(2, -2)).not.toMatch(/\*\/|'table|;/);
    expect(comment).toBe(`/*traceparent='00-${spanContext.traceId}-${spanContext.spanId}-01',tracestate='a%3Dx%2A%2F%3Bdrop%27table'*/`);
  });
});

describe('lifecycle and options', () => {
  it('validates at the door', () => {
    expect(() => new TracingObserver({ tracer: {} as never })).toThrow(/Expected `tracer` to be an OpenTelemetry Tracer/);
    expect(() => new TracingObserver({ tracer: tracer(), maxContentLength: -1 })).toThrow(/maxContentLength/);
    expect(() => new TracingObserver({ tracer: tracer(), recordContent: 'yes' as never })).toThrow(/recordContent/);
  });

  it('close() waits for open spans; destroy() ends them now; neither starts new ones', async () => {
    const { scheduler, observer } = setup([{ name: 'slow', run: (_p, ctx: ToolContext) => sleep(30, ctx.signal) }]);
    const running = scheduler.run({ tool: 'slow' });
    let closed = false;
    const closing = observer.close().then(() => (closed = true));
    expect([observer.openSpans, closed]).toEqual([1, false]);
    await running;
    await closing;
    expect(spans()).toHaveLength(1);
    await scheduler.run({ tool: 'slow' });
    expect(spans()).toHaveLength(1);

    const second = setup([{ name: 'slow', run: (_p, ctx: ToolContext) => sleep(10_000, ctx.signal) }]);
    const pending = second.scheduler.run({ tool: 'slow' });
    await second.observer.destroy();
    expect(spans().at(-1)!.attributes['mcp_concurrency.call.status']).toBe('closed');
    await second.scheduler.destroy();
    await pending;
    await second.observer.destroy();
  });
});
