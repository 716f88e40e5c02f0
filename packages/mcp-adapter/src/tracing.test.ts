import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startMockServer, type MockServer } from '@mcp-concurrency/pool-http/testing';
import { startPostgres, type PostgresService } from '@mcp-concurrency/test-services';
import { startOtlpReceiver } from '@mcp-concurrency/tracing-opentelemetry/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnListening } from './testing/index.js';

const CLI_PATH = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

// The CLI with OTEL_* set: each call's span is exported over OTLP/HTTP, and the HTTP tool's request and
// the SQL tool's statement carry that span (judged by the mock server's and Postgres's own records).
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

it('serve traces calls to OTLP/HTTP and carries each call span into HTTP headers and SQL', async () => {
  const receiver = await startOtlpReceiver();
  const file = join(dir, 'traced.yaml');
  await writeFile(
    file,
    `name: traced-tools
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
`,
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
    const span = (tool: string) => spans.find((s) => s.name === `execute_tool ${tool}`)!;
    expect(span('echo_http')).toMatchObject({ service: 'traced-gateway', attributes: { 'gen_ai.tool.name': 'echo_http', 'mcp_concurrency.call.status': 'ok' } });
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
