import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { context, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ToolRuntime } from '../runtime.js';
import { createMcpServer } from './mcp-server.js';
import { serveHttp } from './serve.js';

beforeAll(() => void context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
afterAll(() => context.disable());

it.each([
  ['2025-11-25', 'legacy'],
  ['2026-07-28', { pin: '2026-07-28' }],
] as const)('a %s request over Streamable HTTP: its SERVER span says that mcp.protocol.version and network.transport tcp', async (version, mode) => {
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('served');
  const runtime = await ToolRuntime.create(parseConfig('name: served\ntools: []\n', 'served.yaml', {}), { tracer });
  runtime.addTool({ name: 'noop', description: 'returns', inputSchema: { type: 'object' }, run: async () => 'ok' }, {});
  const serving = await serveHttp(() => createMcpServer(runtime));
  const client = new Client({ name: 'versioned', version: '1' }, { versionNegotiation: { mode } });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
    await client.callTool({ name: 'noop', arguments: {} });
    const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    expect(spans.map((s) => [s.name, s.attributes['mcp.protocol.version'], s.attributes['network.transport']])).toEqual([['tools/call noop', version, 'tcp']]);
  } finally {
    await client.close().catch(() => {});
    await serving.close({ graceMs: 0 });
    await runtime.close({ graceMs: 0 });
  }
});
