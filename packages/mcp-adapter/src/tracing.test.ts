import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { startMockServer, type MockServer } from '@mcp-concurrency/pool-http/testing';
import { startPostgres, type PostgresService } from '@mcp-concurrency/test-services';
import { startOtlpReceiver } from '@mcp-concurrency/tracing-opentelemetry/testing';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { McpFanout } from './client/fanout.js';
import { runToCompletion, spawnListening } from './testing/index.js';

const CLI_PATH = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

// The CLI with OTEL_* set: each call's span is exported over OTLP/HTTP, and the HTTP tool's request and
// the SQL tool's statement carry that span (judged by the mock server's and Postgres's own records).
// This process plays the agent: its SDK setup (the API's globals), removed afterwards.
const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(() => {
  context.disable();
  propagation.disable();
});

let dir: string;
let api: MockServer;
let postgres: PostgresService;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpc-tracing-'));
  api = await startMockServer();
  postgres = await startPostgres();
}, 60_000);
afterAll(async () => {
  await api?.close();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const toolsYaml = (name: string) => `name: ${name}
http:
  allow_origins: ["${api.origin}"]
  allow_private_network: true
database:
  url: "${postgres.url}"
tools:
  - name: echo_http
    description: echoes the request it got
    http: { method: GET, url: "${api.origin}/echo" }
  - name: whoami_sql
    description: the statement as the server received it
    sql: { query: "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()" }
`;
const otel = (url: string, service: string) => ({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_SERVICE_NAME: service });

it('one trace from McpFanout through the proxy and the upstream server to the HTTP request and the SQL statement', async () => {
  const receiver = await startOtlpReceiver();
  const upstreamFile = join(dir, 'upstream.yaml');
  const proxyFile = join(dir, 'proxy.yaml');
  await writeFile(upstreamFile, toolsYaml('upstream-tools'));
  await writeFile(proxyFile, 'name: gateway\ntools: []\n');
  const upstream = await spawnListening([CLI_PATH, 'serve', '--config', upstreamFile, '--http', '127.0.0.1:0'], otel(receiver.url, 'upstream'));
  const proxy = await spawnListening([CLI_PATH, 'proxy', '--config', proxyFile, '--http', '127.0.0.1:0', '--upstream', upstream.url], otel(receiver.url, 'proxy'));
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('agent');
  try {
    const fanout = await McpFanout.connect({ servers: { gateway: { url: proxy.url } }, tracer });
    const turn = tracer.startSpan('agent turn');
    const results = await context.with(trace.setSpan(context.active(), turn), () =>
      fanout.run([
        { id: 'h', name: 'echo_http', arguments: {} },
        { id: 's', name: 'whoami_sql', arguments: {} },
      ]),
    );
    turn.end();
    await fanout.close();
    await proxy.stop();
    await upstream.stop();
    expect(results.map((r) => r.isError)).toEqual([false, false]);

    // Every span of every process, by id: (service, name, parent).
    const traceId = turn.spanContext().traceId;
    const local = exporter.getFinishedSpans().map((s) => ({ service: 'agent', name: s.name, traceId: s.spanContext().traceId, spanId: s.spanContext().spanId, parentSpanId: s.parentSpanContext?.spanId ?? '' }));
    const all = [...local, ...receiver.spans()];
    expect(new Set(all.map((s) => s.traceId))).toEqual(new Set([traceId]));
    const byId = new Map(all.map((s) => [s.spanId, s]));
    const chain = (spanId: string): string[] => {
      const out: string[] = [];
      for (let s = byId.get(spanId); s !== undefined; s = byId.get(s.parentSpanId)) out.push(`${s.service}: ${s.name}`);
      return out;
    };
    for (const tool of ['echo_http', 'whoami_sql']) {
      // A served request is one span (its call's detail on the SERVER span); the proxy's upstream call is its CLIENT span.
      const deepest = all.find((s) => s.service === 'upstream' && s.name === `tools/call ${tool}`)!;
      expect(chain(deepest.spanId)).toEqual([
        `upstream: tools/call ${tool}`,
        `proxy: tools/call ${tool}`,
        `proxy: tools/call ${tool}`,
        `agent: tools/call ${tool}`,
        `agent: execute_tool ${tool}`,
        'agent: agent turn',
      ]);
    }
    // The upstream's call spans reached the HTTP API (its record of the headers) and Postgres (the statement text).
    const deepest = (tool: string) => all.find((s) => s.service === 'upstream' && s.name === `tools/call ${tool}`)!;
    const seenBy = (r: (typeof results)[number]) => r.content;
    expect(seenBy(results[0]!)).toContain(`00-${traceId}-${deepest('echo_http').spanId}-01`);
    expect(seenBy(results[1]!)).toContain(`/*traceparent='00-${traceId}-${deepest('whoami_sql').spanId}-01'*/`);
  } finally {
    await proxy.stop();
    await upstream.stop();
    await receiver.close();
  }
});

it('serve traces calls to OTLP/HTTP and carries each call span into HTTP headers and SQL', async () => {
  const receiver = await startOtlpReceiver();
  const file = join(dir, 'traced.yaml');
  await writeFile(
    file,
    toolsYaml('traced-tools'),
  );
  const server = await spawnListening([CLI_PATH, 'serve', '--config', file, '--http', '127.0.0.1:0'], {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'traced-gateway',
  });
  try {
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const http = (await client.callTool({ name: 'echo_http', arguments: {} })) as CallToolResult;
    const sql = (await client.callTool({ name: 'whoami_sql', arguments: {} })) as CallToolResult;
    await client.close();
    // SIGTERM: the CLI shuts down and flushes its spans before it exits.
    await server.stop();
    const spans = receiver.spans();
    const span = (tool: string) => spans.find((s) => s.name === `tools/call ${tool}`)!;
    expect(span('echo_http')).toMatchObject({
      service: 'traced-gateway',
      kind: 2, // SERVER
      attributes: { 'gen_ai.tool.name': 'echo_http', 'mcp_concurrency.call.status': 'ok', 'mcp.protocol.version': '2025-11-25', 'network.transport': 'tcp' },
    });
    expect(spans.filter((s) => s.name.startsWith('execute_tool'))).toEqual([]);
    expect(span('whoami_sql').attributes['mcp_concurrency.call.status']).toBe('ok');
    const traceparent = (tool: string) => `00-${span(tool).traceId}-${span(tool).spanId}-01`;
    const echoed = JSON.stringify(http.structuredContent ?? http.content);
    expect(echoed).toContain(traceparent('echo_http'));
    expect(JSON.stringify(sql.structuredContent ?? sql.content)).toContain(`/*traceparent='${traceparent('whoami_sql')}'*/`);
  } finally {
    await server.stop();
    await receiver.close();
  }
});

it('serve over stdio: SERVER spans say network.transport pipe and the protocol version; a batch has its SERVER span and one execute_tool span per inner call; OTEL_METRICS_EXPORTER exports the duration histograms', async () => {
  const receiver = await startOtlpReceiver();
  const file = join(dir, 'stdio-traced.yaml');
  await writeFile(file, `${toolsYaml('stdio-traced')}batch: true\n`);
  const client = new Client({ name: 'test', version: '1.0.0' });
  const env = { ...otel(receiver.url, 'stdio-gateway'), OTEL_METRICS_EXPORTER: 'otlp' };
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI_PATH, 'serve', '--config', file], env: { ...(process.env as Record<string, string>), ...env }, stderr: 'pipe' }));
  try {
    const single = (await client.callTool({ name: 'echo_http', arguments: {} })) as CallToolResult;
    const batch = (await client.callTool({ name: 'batch', arguments: { calls: [{ id: 'one', tool: 'echo_http' }, { id: 'two', tool: 'echo_http' }] } })) as CallToolResult;
    expect([single.isError === true, batch.isError === true]).toEqual([false, false]);
  } finally {
    // stdin closes: the CLI shuts down, flushing its spans and metrics before it exits.
    await client.close();
  }
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !(receiver.spans().length >= 4 && receiver.histograms().length > 0)) await new Promise((r) => setTimeout(r, 50));
  try {
    const spans = receiver.spans();
    const single = spans.find((s) => s.name === 'tools/call echo_http')!;
    expect(single).toMatchObject({ kind: 2, attributes: { 'network.transport': 'pipe', 'mcp.protocol.version': expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), 'mcp_concurrency.call.status': 'ok' } });
    const batchSpan = spans.find((s) => s.name === 'tools/call batch')!;
    expect(batchSpan).toMatchObject({ kind: 2, attributes: { 'network.transport': 'pipe', 'gen_ai.tool.name': 'batch' } });
    const inner = spans.filter((s) => s.name === 'execute_tool echo_http');
    expect(inner.map((s) => [s.attributes['gen_ai.tool.call.id'], s.parentSpanId, s.traceId]).sort()).toEqual([
      ['one', batchSpan.spanId, batchSpan.traceId],
      ['two', batchSpan.spanId, batchSpan.traceId],
    ]);
    const durations = receiver.histograms().filter((h) => h.name === 'mcp.server.operation.duration');
    expect(durations.map((h) => [h.service, h.unit, h.attributes['gen_ai.tool.name'], h.attributes['network.transport'], h.count]).sort()).toEqual([
      ['stdio-gateway', 's', 'batch', 'pipe', 1],
      ['stdio-gateway', 's', 'echo_http', 'pipe', 1],
    ]);
    expect(durations.every((h) => h.attributes['mcp.session.id'] === undefined && h.attributes['jsonrpc.request.id'] === undefined)).toBe(true);
  } finally {
    await receiver.close();
  }
});

it('serve without OTEL_* exports nothing', async () => {
  const receiver = await startOtlpReceiver();
  const file = join(dir, 'plain.yaml');
  await writeFile(file, `name: plain\nhttp:\n  allow_origins: ["${api.origin}"]\n  allow_private_network: true\ntools:\n  - name: echo_http\n    description: echo\n    http: { method: GET, url: "${api.origin}/echo" }\n`);
  const server = await spawnListening([CLI_PATH, 'serve', '--config', file, '--http', '127.0.0.1:0'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
  try {
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const result = (await client.callTool({ name: 'echo_http', arguments: {} })) as CallToolResult;
    await client.close();
    await server.stop();
    expect(JSON.stringify(result.structuredContent ?? result.content)).not.toContain('traceparent');
    expect(receiver.received).toEqual([]);
  } finally {
    await server.stop();
    await receiver.close();
  }
});

it('serve never prints an OTLP endpoint\'s credentials: not in its startup lines, not in the exit-2 error', async () => {
  const file = join(dir, 'secret-endpoint.yaml');
  await writeFile(file, `name: plain\nhttp:\n  allow_origins: ["${api.origin}"]\n  allow_private_network: true\ntools:\n  - name: echo_http\n    description: echo\n    http: { method: GET, url: "${api.origin}/echo" }\n`);
  // Over stdio with stdin at its end: the CLI starts, announces, and shuts down at once (nothing to export).
  const started = await runToCompletion([CLI_PATH, 'serve', '--config', file], {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:SECRETPW@127.0.0.1:1/?api_key=SECRETQ',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://user:SECRETPW@127.0.0.1:1/m?token=SECRETQ',
  });
  expect(started.stderr).toContain('tracing to otlp http/protobuf http://127.0.0.1:1/v1/traces?api_key=[redacted]\n');
  expect(started.stderr).toContain('OpenTelemetry metrics to otlp http/protobuf http://127.0.0.1:1/m?token=[redacted] every 60000 ms\n');
  expect(started.stderr + started.stdout).not.toContain('SECRET');
  const refused = await runToCompletion([CLI_PATH, 'serve', '--config', file], { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'user:SECRETPW@127.0.0.1:4318' });
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('`OTEL_EXPORTER_OTLP_ENDPOINT` to be an http(s) URL');
  expect(refused.stderr + refused.stdout).not.toContain('SECRET');
});
