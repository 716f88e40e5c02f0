import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsHandler } from '@mcp-concurrency/metrics-prometheus';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Registry } from 'prom-client';

export interface HttpServeOptions {
  /** @default '127.0.0.1': loopback unless you say otherwise */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Required as `Authorization: Bearer <token>` when set. */
  readonly token?: string;
  /** Browser origins allowed to call (DNS-rebinding protection). @default none beyond the server's own address */
  readonly allowedOrigins?: readonly string[];
  /** Extra `Host` values to accept (behind a proxy). Loopback binds always check `Host`. */
  readonly allowedHosts?: readonly string[];
  /** Serve `/metrics` from this registry on the same port. */
  readonly registry?: Registry;
  /** Largest request body read. @default 4 MiB */
  readonly maxBodyBytes?: number;
}

export interface Serving {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves MCP over stdio: one server, for the process that spawned us. */
export async function serveStdio(createServerForSession: () => Server): Promise<Serving> {
  const server = createServerForSession();
  const transport = new StdioServerTransport();
  await server.connect(transport);
  return { url: 'stdio', close: () => server.close() };
}

/**
 * Serves MCP over Streamable HTTP at `/mcp`, a server per session, all sharing one runtime (and so one
 * set of limits). `Host` and `Origin` are checked (DNS rebinding), a bearer token is required when
 * configured, and `/metrics` is served beside it when a registry is given.
 */
export async function serveHttp(createServerForSession: () => Server, options: HttpServeOptions = {}): Promise<Serving> {
  const host = options.host ?? '127.0.0.1';
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);
  const metrics = options.registry === undefined ? undefined : metricsHandler(options.registry);
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (!allowedHosts.has((req.headers.host ?? '').toLowerCase()) && isLoopback(host)) {
      return deny(res, 403, `Host "${req.headers.host ?? ''}" is not allowed`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) return deny(res, 403, `Origin "${origin}" is not allowed`);
    if (path === '/metrics' && metrics !== undefined) return metrics(req, res);
    if (path !== '/mcp') return deny(res, 404, 'Not found: MCP is served at /mcp');
    if (tokenDigest !== undefined) {
      const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (given === undefined || !timingSafeEqual(digest(given), tokenDigest)) {
        res.setHeader('www-authenticate', 'Bearer');
        return deny(res, 401, 'A valid bearer token is required');
      }
    }
    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (existing !== undefined) {
      const body = req.method === 'POST' ? await readJson(req, maxBodyBytes) : undefined;
      return existing.handleRequest(req, res, body);
    }
    if (req.method !== 'POST') return deny(res, sessionId === undefined ? 400 : 404, sessionId === undefined ? 'Missing mcp-session-id' : 'Unknown session');
    const body = await readJson(req, maxBodyBytes);
    if (sessionId !== undefined || !isInitializeRequest(body)) {
      return deny(res, sessionId === undefined ? 400 : 404, sessionId === undefined ? 'The first request of a session must be initialize' : 'Unknown session');
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    const server = createServerForSession();
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof BodyError) return deny(res, error.status, error.message);
      if (!res.headersSent) deny(res, 500, 'Internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  allowedHosts = new Set([`${shownHost}:${port}`, ...(isLoopback(host) ? [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`] : []), ...(options.allowedHosts ?? [])].map((h) => h.toLowerCase()));
  allowedOrigins = new Set([...[...allowedHosts].map((h) => `http://${h}`), ...(options.allowedOrigins ?? [])].map((o) => o.toLowerCase()));
  return {
    url: `http://${shownHost}:${port}/mcp`,
    close: async () => {
      await Promise.all([...sessions.values()].map((t) => t.close().catch(() => {})));
      await new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    },
  };
}

class BodyError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new BodyError(413, `The request body is over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new BodyError(400, 'The request body is not JSON');
  }
}

function deny(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
