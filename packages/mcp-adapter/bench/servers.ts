/**
 * The servers the MCP benchmark drives, each run in its own process:
 *   bare   - the official SDK v2 alone, wired the way its docs serve both eras on one endpoint: a
 *            sessionful WebStandardStreamableHTTPServerTransport for 2025-11-25 (routed by
 *            isLegacyRequest) and createMcpHandler for 2026-07-28, on node:http via toNodeHandler;
 *   ours   - the same tools through mcp-concurrency (ToolRuntime, createMcpServer, serveHttp), traced
 *            from OTEL_* as the CLI does (tracing.bench.ts).
 * Tools: `noop` (returns at once) and `sleep200` (a 200 ms timer). Prints `listening on URL`.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, isLegacyRequest, McpServer, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { createMcpServer, parseConfig, serveHttp, ToolRuntime } from '@mcp-concurrency/mcp-adapter';
import { tracingFromEnv } from '@mcp-concurrency/tracing-opentelemetry/sdk';

const kind = process.argv[2];
// Exit cleanly on a signal (so --cpu-prof can write its profile).
process.once('SIGINT', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (kind === 'bare') {
  const build = (): McpServer => {
    const server = new McpServer({ name: 'bare', version: '1.0.0' });
    server.registerTool('noop', { description: 'returns at once' }, async () => ({ content: [{ type: 'text', text: 'ok' }] }));
    server.registerTool('sleep200', { description: 'waits 200 ms' }, async () => {
      await sleep(200);
      return { content: [{ type: 'text', text: 'ok' }] };
    });
    return server;
  };
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const modern = createMcpHandler(build, { legacy: 'reject' });
  const node = toNodeHandler({
    fetch: async (request, options) => {
      const parsedBody = options?.parsedBody;
      if (!(await isLegacyRequest(request, parsedBody))) return modern.fetch(request, options);
      const id = request.headers.get('mcp-session-id');
      let transport = id === null ? undefined : sessions.get(id);
      if (transport === undefined) {
        const t: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => void sessions.set(sid, t) });
        await build().connect(t);
        transport = t;
      }
      return transport.handleRequest(request, { parsedBody });
    },
  });
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    await node(req, res, chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined);
  });
  http.listen(0, '127.0.0.1', () => console.error(`listening on http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`));
} else {
  const config = parseConfig('name: bench\nconcurrency:\n  max_parallel: 64\ntools: []\n', 'bench.yaml');
  // Traced when OTEL_TRACES_EXPORTER is set (tracing.bench.ts), as the CLI does; off otherwise.
  const tracing = await tracingFromEnv({ serviceName: 'bench' });
  const runtime = await ToolRuntime.create(config, { tracer: tracing?.tracer });
  const described = (name: string, run: () => Promise<unknown>) => ({ name, description: name, inputSchema: { type: 'object', properties: {} }, run });
  runtime.addTool(described('noop', async () => 'ok'), {});
  runtime.addTool(described('sleep200', async () => {
    await sleep(200);
    return 'ok';
  }), { maxParallel: 10 });
  const serving = await serveHttp(() => createMcpServer(runtime), { port: 0 });
  console.error(`listening on ${serving.url}`);
}
