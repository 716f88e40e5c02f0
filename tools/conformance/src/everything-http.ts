import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '@modelcontextprotocol/node';
import {
  createMcpHandler,
  hostHeaderValidationResponse,
  isLegacyRequest,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  originValidationResponse,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { MemoryEventStore } from './event-store.js';
import { createEverythingServer, type EverythingOptions } from './everything.js';

/** Options of {@link startEverythingHttp}. */
export interface EverythingHttpOptions extends EverythingOptions {
  /**
   * Interface to listen on. Only loopback is allowed: the fixture has no authentication, and it
   * rejects requests whose `Host` or `Origin` is not a loopback name (DNS rebinding protection).
   * @default '127.0.0.1'
   */
  readonly host?: '127.0.0.1' | 'localhost' | '::1';
  /**
   * Port; 0 picks a free one (read it from `url`).
   * @default 0
   */
  readonly port?: number;
  /**
   * Most 2025-era sessions open at once; an `initialize` over the cap is answered HTTP 503.
   * @default 100
   */
  readonly maxSessions?: number;
}

/** A running fixture. */
export interface EverythingHttp {
  /** The MCP endpoint, `http://HOST:PORT/mcp`. */
  readonly url: string;
  /** 2025-era sessions open now. */
  readonly sessions: () => number;
  /** Stops listening, then closes every session and the 2026-07-28 handler. Idempotent. */
  close(): Promise<void>;
  /** Closes every connection now. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * Serves {@link createEverythingServer} over Streamable HTTP at `/mcp`, on one endpoint for both
 * protocol eras: 2026-07-28 requests (the per-request `_meta` envelope) go to the SDK's
 * `createMcpHandler` (one server instance per request); 2025-era traffic gets a session of its own
 * (`Mcp-Session-Id`, one server instance per session, resumable SSE with an event store), which
 * server-to-client requests (sampling, elicitation) and subscriptions need. This is the SDK's
 * documented `isLegacyRequest` composition.
 *
 * @example
 * ```ts
 * const fixture = await startEverythingHttp();
 * console.log(fixture.url); // http://127.0.0.1:PORT/mcp
 * await fixture.close();
 * ```
 */
export async function startEverythingHttp(options: EverythingHttpOptions = {}): Promise<EverythingHttp> {
  const host = options.host ?? '127.0.0.1';
  const maxSessions = options.maxSessions ?? 100;
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const serverOptions = { ...options, requestStateKey: options.requestStateKey ?? randomBytes(32) };
  const modern = createMcpHandler(() => createEverythingServer(serverOptions), { legacy: 'reject' });

  const jsonError = (status: number, message: string): Response =>
    Response.json({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }, { status });

  async function legacy(request: Request): Promise<Response> {
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId !== null) {
      const transport = sessions.get(sessionId);
      return transport ? transport.handleRequest(request) : jsonError(404, 'Session not found: start a new one with initialize');
    }
    if (request.method !== 'POST') return jsonError(400, 'Mcp-Session-Id header required');
    if (sessions.size >= maxSessions) return jsonError(503, `Too many open sessions (${maxSessions}): close one with DELETE first`);
    const server = createEverythingServer(serverOptions);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new MemoryEventStore(),
      retryInterval: 500,
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      void server.close();
    };
    await server.connect(transport);
    const response = await transport.handleRequest(request);
    if (transport.sessionId === undefined) await server.close(); // not an initialize: nothing to keep
    return response;
  }

  const handler = toNodeHandler({
    fetch: async (request: Request): Promise<Response> => {
      if (new URL(request.url).pathname !== '/mcp') return new Response('Not found: the MCP endpoint is /mcp\n', { status: 404 });
      const rejected = hostHeaderValidationResponse(request, localhostAllowedHostnames()) ?? originValidationResponse(request, localhostAllowedOrigins());
      if (rejected) return rejected;
      return (await isLegacyRequest(request)) ? legacy(request) : modern.fetch(request);
    },
  });

  const http: HttpServer = createServer((req, res) => {
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`Internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
      await Promise.allSettled([...sessions.values()].map((t) => t.close()));
      await modern.close();
      http.closeIdleConnections();
      await stopped;
    })());
  return {
    url: `http://${host === '::1' ? '[::1]' : host}:${port}/mcp`,
    sessions: () => sessions.size,
    close,
    destroy: async () => {
      http.closeAllConnections();
      await close();
    },
  };
}
