import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Meter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { Scheduler } from '@mcp-concurrency/core-scheduler';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { McpTracing } from './mcp.js';
import { TracingObserver } from './observer.js';

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => context.disable());

function setup() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const mcp = new McpTracing({ tracer: provider.getTracer('test'), propagator: new W3CTraceContextPropagator() });
  return { mcp, exporter };
}

it('client → server: the CLIENT span travels in _meta and is the SERVER span\'s parent; attributes per the MCP conventions', async () => {
  const { mcp, exporter } = setup();
  let sent: Record<string, unknown> | undefined;
  const original = { progressToken: 7 };
  const info = { method: 'tools/call', tool: 'get_weather', requestId: 3, sessionId: 's-1', protocolVersion: '2025-11-25', transport: 'tcp' as const };
  const result = await context.with(ROOT_CONTEXT, () =>
    mcp.client({ ...info, serverAddress: '127.0.0.1', serverPort: 8080 }, original, (meta) => {
      sent = meta;
      // The "server" handles the request in another context: only _meta links them.
      return context.with(ROOT_CONTEXT, () => mcp.server(info, meta, () => ({ content: [], seenSpan: trace.getActiveSpan()?.spanContext().spanId })));
    }),
  );
  expect(original).toEqual({ progressToken: 7 });
  const [server, client] = exporter.getFinishedSpans();
  expect(sent).toEqual({ progressToken: 7, traceparent: `00-${client!.spanContext().traceId}-${client!.spanContext().spanId}-01` });
  expect(result.seenSpan).toBe(server!.spanContext().spanId);
  expect(server!.parentSpanContext?.spanId).toBe(client!.spanContext().spanId);
  expect(server!.spanContext().traceId).toBe(client!.spanContext().traceId);
  expect([client!.name, client!.kind, server!.name, server!.kind]).toEqual(['tools/call get_weather', SpanKind.CLIENT, 'tools/call get_weather', SpanKind.SERVER]);
  expect(server!.attributes).toEqual({
    'mcp.method.name': 'tools/call',
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'get_weather',
    'jsonrpc.request.id': '3',
    'mcp.session.id': 's-1',
    'mcp.protocol.version': '2025-11-25',
    'network.transport': 'tcp',
  });
  expect(client!.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': 8080 });
  expect(server!.status.code).toBe(SpanStatusCode.UNSET);
});

it('a result with isError: error.type tool_error, status ERROR, and the output is not recorded', async () => {
  const { mcp, exporter } = setup();
  await mcp.server({ method: 'tools/call', tool: 't' }, undefined, () => ({ isError: true, content: [{ type: 'text', text: 'secret detail' }] }));
  const [span] = exporter.getFinishedSpans();
  expect(span!.attributes['error.type']).toBe('tool_error');
  expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'tool_error' });
  expect(JSON.stringify(span!.attributes)).not.toContain('secret');
});

it('a JSON-RPC error: its code as error.type and rpc.response.status_code, rethrown', async () => {
  const { mcp, exporter } = setup();
  const failure = Object.assign(new Error('Unknown tool: nope'), { code: -32602 });
  await expect(mcp.client({ method: 'tools/call', tool: 'nope' }, undefined, () => Promise.reject(failure))).rejects.toBe(failure);
  await expect(mcp.client({ method: 'ping' }, undefined, () => { throw new TypeError('broken'); })).rejects.toThrow('broken');
  const [rpc, other] = exporter.getFinishedSpans();
  expect(rpc!.attributes).toMatchObject({ 'error.type': '-32602', 'rpc.response.status_code': '-32602' });
  expect(rpc!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Unknown tool: nope' });
  expect(other!.name).toBe('ping');
  expect(other!.attributes).toEqual({ 'mcp.method.name': 'ping', 'error.type': 'TypeError' });
});

it('validates at the door', () => {
  expect(() => new McpTracing({ tracer: undefined as never })).toThrow(/`tracer`/);
});

it('records mcp.server/client.operation.duration in seconds with low-cardinality attributes only', async () => {
  const records: [string, number, Record<string, unknown>][] = [];
  const created: [string, unknown][] = [];
  const meter = {
    createHistogram: (name: string, options: unknown) => {
      created.push([name, options]);
      return { record: (value: number, attributes: Record<string, unknown>) => records.push([name, value, attributes]) };
    },
  } as unknown as Meter;
  let now = 1_000;
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');
  const mcp = new McpTracing({ tracer, meter, clock: { now: () => now } });
  const info = { method: 'tools/call', tool: 'lookup', requestId: 'r-9', sessionId: 'secret-session', protocolVersion: '2025-11-25' };
  await mcp.server(info, undefined, () => {
    now += 250;
    return { isError: true, content: [] };
  });
  await expect(
    mcp.client(info, undefined, () => {
      now += 1_500;
      throw Object.assign(new Error('nope'), { code: -32603 });
    }),
  ).rejects.toThrow('nope');
  expect(created.map(([name, options]) => [name, (options as { unit: string }).unit])).toEqual([
    ['mcp.server.operation.duration', 's'],
    ['mcp.client.operation.duration', 's'],
  ]);
  const common = { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'lookup', 'gen_ai.operation.name': 'execute_tool', 'mcp.protocol.version': '2025-11-25' };
  expect(records).toEqual([
    ['mcp.server.operation.duration', 0.25, { ...common, 'error.type': 'tool_error' }],
    ['mcp.client.operation.duration', 1.5, { ...common, 'error.type': '-32603', 'rpc.response.status_code': '-32603' }],
  ]);
  expect(() => new McpTracing({ tracer, meter: {} as Meter })).toThrow(/`meter`/);
});

it('exports the duration histograms through the official metrics SDK: buckets advised by the conventions, no ids in the attributes', async () => {
  class Reader extends MetricReader {
    protected override onForceFlush = async (): Promise<void> => {};
    protected override onShutdown = async (): Promise<void> => {};
  }
  const reader = new Reader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('test');
  const tracer = new BasicTracerProvider().getTracer('test');
  const mcp = new McpTracing({ tracer, meter });
  const info = { method: 'tools/call', tool: 'lookup', requestId: 7, sessionId: 's-secret', protocolVersion: '2025-11-25', transport: 'tcp' as const };
  await mcp.server(info, undefined, () => ({ content: [] }));
  await mcp.server(info, undefined, () => ({ content: [] }));
  await mcp.client({ ...info, transport: 'pipe' }, undefined, () => ({ content: [] }));
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  const server = metrics.find((m) => m.descriptor.name === 'mcp.server.operation.duration')!;
  const client = metrics.find((m) => m.descriptor.name === 'mcp.client.operation.duration')!;
  expect(server.descriptor.unit).toBe('s');
  const point = server.dataPoints[0]!;
  expect(server.dataPoints).toHaveLength(1);
  expect(point.attributes).toEqual({
    'mcp.method.name': 'tools/call',
    'gen_ai.tool.name': 'lookup',
    'gen_ai.operation.name': 'execute_tool',
    'mcp.protocol.version': '2025-11-25',
    'network.transport': 'tcp',
  });
  const histogram = point.value as { count: number; buckets: { boundaries: number[] } };
  expect(histogram.count).toBe(2);
  expect(histogram.buckets.boundaries).toEqual([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]);
  expect(client.dataPoints.map((p) => p.attributes['network.transport'])).toEqual(['pipe']);
});

it('tools/call: the SERVER span is the call\'s span (one span per request, the call\'s detail on it); a batch keeps its own and its calls get theirs', async () => {
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');
  const mcp = new McpTracing({ tracer });
  const observer = new TracingObserver({ tracer });
  let seen: string | undefined;
  const scheduler = new Scheduler({
    tools: [observer.wrap({ name: 'echo', run: () => (seen = trace.getActiveSpan()?.spanContext().spanId) }), observer.wrap({ name: 'fail', run: () => Promise.reject(new Error('boom')) })],
    observers: [observer],
  });
  const info = { method: 'tools/call', tool: 'echo', requestId: 1, protocolVersion: '2025-11-25', transport: 'pipe' as const };
  await context.with(ROOT_CONTEXT, () => mcp.server(info, undefined, () => scheduler.run({ id: '1', tool: 'echo' })));
  const [one] = exporter.getFinishedSpans();
  expect(exporter.getFinishedSpans()).toHaveLength(1);
  expect([one!.name, one!.kind]).toEqual(['tools/call echo', SpanKind.SERVER]);
  expect(seen).toBe(one!.spanContext().spanId);
  expect(one!.attributes).toMatchObject({ 'gen_ai.tool.name': 'echo', 'gen_ai.tool.call.id': '1', 'mcp_concurrency.call.status': 'ok', 'mcp.protocol.version': '2025-11-25', 'network.transport': 'pipe' });
  exporter.reset();

  // A failed call: its code and message on the span, error.type tool_error for the isError result (conventions).
  await mcp.server({ ...info, tool: 'fail' }, undefined, async () => ({ isError: (await scheduler.run({ id: '2', tool: 'fail' })).status !== 'ok', content: [] }));
  const [failed] = exporter.getFinishedSpans();
  expect(failed!.attributes).toMatchObject({ 'error.type': 'tool_error', 'mcp_concurrency.error.code': 'tool_error', 'mcp_concurrency.call.status': 'error' });
  expect(failed!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
  exporter.reset();

  // A batch: its SERVER span is not shared; each inner call gets an execute_tool span under it.
  await mcp.server({ ...info, tool: 'batch' }, undefined, () => scheduler.runGraph([{ id: 'a', tool: 'echo' }, { id: 'b', tool: 'echo' }]), { shareWithCall: false });
  const spans = exporter.getFinishedSpans();
  const batch = spans.find((s) => s.kind === SpanKind.SERVER)!;
  const inner = spans.filter((s) => s.name === 'execute_tool echo');
  expect(inner.map((s) => s.attributes['gen_ai.tool.call.id']).sort()).toEqual(['a', 'b']);
  expect(inner.every((s) => s.parentSpanContext?.spanId === batch.spanContext().spanId)).toBe(true);
  expect(observer.openSpans).toBe(0);
});

it('an unsampled request: the call takes the non-recording span, nothing is exported, the context still travels', async () => {
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');
  const mcp = new McpTracing({ tracer });
  const observer = new TracingObserver({ tracer });
  let seen: string | undefined;
  const scheduler = new Scheduler({ tools: [observer.wrap({ name: 'echo', run: () => (seen = trace.getActiveSpan()?.spanContext().traceFlags.toString()) })], observers: [observer] });
  await mcp.server({ method: 'tools/call', tool: 'echo' }, undefined, () => scheduler.run({ tool: 'echo' }));
  expect(exporter.getFinishedSpans()).toEqual([]);
  expect(seen).toBe('0');
  expect(observer.openSpans).toBe(0);
});
