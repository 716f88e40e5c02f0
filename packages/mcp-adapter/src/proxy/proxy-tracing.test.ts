import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { McpServer } from '@modelcontextprotocol/server';
import { context, propagation, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as z from 'zod';
import { parseConfig } from '../config/load.js';
import { ToolRuntime } from '../runtime.js';
import { serveHttp, type Serving } from '../server/serve.js';
import { McpProxy } from './proxy.js';

// The proxy's own SDK setup (the API's globals), removed afterwards.
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(() => {
  context.disable();
  propagation.disable();
});

let upstream: Serving;
beforeAll(async () => {
  // An upstream whose tool answers with the `_meta` it received.
  upstream = await serveHttp(() => {
    const server = new McpServer({ name: 'meta-upstream', version: '1.0.0' });
    server.registerTool('echo_meta', { description: 'Answers with its request _meta', inputSchema: z.object({}) }, async (_args, ctx) => ({
      content: [{ type: 'text', text: JSON.stringify(ctx.mcpReq._meta ?? {}) }],
    }));
    return server;
  });
});
afterAll(async () => {
  await upstream.close({ graceMs: 0 });
});

it('tools/call through a traced proxy: SERVER span from the caller\'s _meta, CLIENT span upstream, its traceparent in _meta, other keys kept', async () => {
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('proxy');
  const reader = new (class extends MetricReader {
    protected override onForceFlush = async (): Promise<void> => {};
    protected override onShutdown = async (): Promise<void> => {};
  })();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('proxy');
  const runtime = await ToolRuntime.create(parseConfig('name: traced-proxy\ntools: []\n', 'proxy.yaml', {}), { tracer, meter });
  const proxy = await McpProxy.connect(runtime, { upstream: { url: upstream.url } });
  const serving = await serveHttp(proxy.factory);
  const client = new Client({ name: 'caller', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
    const callerTrace = 'a'.repeat(32);
    const callerSpan = 'b'.repeat(16);
    const result = (await client.callTool({
      name: 'echo_meta',
      arguments: {},
      _meta: { traceparent: `00-${callerTrace}-${callerSpan}-01`, 'example.com/kept': 'yes' },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const seen = JSON.parse((result.content[0] as { text: string }).text) as Record<string, unknown>;

    const spans = exporter.getFinishedSpans();
    const named = (name: string, kind: SpanKind) => spans.find((s) => s.name === name && s.kind === kind)!;
    // One span per request: the SERVER span carries the call's detail (no execute_tool span under it).
    const server = named('tools/call echo_meta', SpanKind.SERVER);
    const upstreamCall = named('tools/call echo_meta', SpanKind.CLIENT);
    expect(spans.map((s) => s.name).sort()).toEqual(['tools/call echo_meta', 'tools/call echo_meta']);
    expect(server.spanContext().traceId).toBe(callerTrace);
    expect(server.parentSpanContext?.spanId).toBe(callerSpan);
    expect(server.attributes).toMatchObject({ 'mcp.protocol.version': '2025-11-25', 'network.transport': 'tcp', 'mcp_concurrency.call.status': 'ok', 'gen_ai.tool.call.id': expect.any(String) });
    expect(upstreamCall.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    const port = Number(new URL(upstream.url).port);
    expect(upstreamCall.attributes).toMatchObject({ 'mcp.protocol.version': '2025-11-25', 'network.transport': 'tcp', 'server.address': '127.0.0.1', 'server.port': port });
    // Upstream: the proxy's CLIENT span replaces the caller's context; every other key goes along.
    expect(seen['traceparent']).toBe(`00-${callerTrace}-${upstreamCall.spanContext().spanId}-01`);
    expect(seen['example.com/kept']).toBe('yes');
    // The durations: the proxy's side of the request (server) and of its upstream call (client).
    const metrics = (await reader.collect()).resourceMetrics.scopeMetrics.flatMap((m) => m.metrics);
    const points = (name: string) => metrics.find((m) => m.descriptor.name === name)?.dataPoints.map((p) => p.attributes);
    expect(points('mcp.server.operation.duration')).toEqual([expect.objectContaining({ 'gen_ai.tool.name': 'echo_meta', 'network.transport': 'tcp' })]);
    expect(points('mcp.client.operation.duration')).toEqual([expect.objectContaining({ 'gen_ai.tool.name': 'echo_meta', 'network.transport': 'tcp', 'mcp.protocol.version': '2025-11-25' })]);
  } finally {
    await client.close().catch(() => {});
    await serving.close({ graceMs: 0 });
    await proxy.close({ graceMs: 0 });
  }
});
