import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { metricsHandler } from '@mcp-concurrency/metrics-prometheus';
import { createMcpHandler, isInitializeRequest, isLegacyRequest, WebStandardStreamableHTTPServerTransport, type JSONRPCMessage, type McpServerFactory, type ServerNotifier } from '@modelcontextprotocol/server';
import { serveStdio as sdkServeStdio, StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import type { Registry } from 'prom-client';
import { ArgumentsGuard, guardArguments } from './arguments-guard.js';
import { callFetchHandler, type FetchHandler } from './node-adapter.js';

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
  /** Serve `/metrics` from this registry on the same port (behind `token` when one is set). */
  readonly registry?: Registry;
  /** Largest request body read, in bytes. @default 4 MiB */
  readonly maxBodyBytes?: number;
  /**
   * How long a request (headers and body) may take to arrive, in ms (Node's `server.requestTimeout`); a client
   * trickling its body is cut off then. Answers (SSE streams) are not bounded by it. @default 30_000
   */
  readonly requestTimeoutMs?: number;
  /**
   * Open 2025-revision sessions at most; an `initialize` over the cap gets HTTP 503 with `Retry-After`
   * (after expired sessions are swept). @default 1_000
   */
  readonly maxSessions?: number;
  /** A 2025-revision session that sends no request for this long (ms) is closed. @default 600_000 (10 min) */
  readonly sessionIdleMs?: number;
  /** Called for each session closed (by the client, by idle expiry or by shutdown), with its id and why. */
  readonly onSessionClosed?: (sessionId: string, reason: 'deleted' | 'idle' | 'shutdown') => void;
}

/** The shared lifecycle of a running endpoint. */
export interface Serving {
  readonly url: string;
  /** Open 2025-revision sessions (always 0 over stdio). */
  readonly sessions: number;
  /**
   * Tells the `subscriptions/listen` streams of 2026-07-28 clients that tools, prompts or resources changed
   * (the SDK's `ServerNotifier`; `McpProxy.relayChanges()` takes it). Over stdio it does nothing: a stdio
   * connection's server sends its own notifications.
   */
  readonly notify: ServerNotifier;
  /**
   * Stops taking requests (HTTP 503 `Retry-After`, new stdio requests unanswered), waits for requests in
   * flight to be answered for up to `graceMs` (ms, default 10_000) or until `signal` aborts, then
   * closes every session and the listener. Idempotent.
   */
  close(options?: { readonly graceMs?: number; readonly signal?: AbortSignal }): Promise<void>;
  /** Closes every session and the listener now. Idempotent. */
  destroy(reason?: unknown): Promise<void>;
}

/** Where `serveStdio` reads and writes. */
export interface StdioServeOptions {
  /** @default process.stdin */
  readonly stdin?: Readable;
  /** @default process.stdout */
  readonly stdout?: Writable;
}

/**
 * Serves MCP over stdio from a factory: the SDK's `serveStdio`, which pins one server for the connection
 * in the era its opening chose (`initialize` for 2025-11-25, 2025-06-18 and earlier; `server/discover`
 * or an enveloped request for 2026-07-28).
 *
 * When stdin ends (the client closed its side), the requests already read are still answered on stdout
 * before the transport closes: `printf '...' | mcp-concurrency serve` gets every answer. (The SDK's own
 * stdio transport aborts them unanswered.) Bound the wait with the runtime's deadlines, or `close()` /
 * `destroy()`. `close()` waits for the answers of requests in flight for up to `graceMs` (default 10_000).
 */
export async function serveStdio(factory: McpServerFactory, options: StdioServeOptions = {}): Promise<Serving> {
  const input = options.stdin ?? process.stdin;
  // The SDK transport closes (and aborts every request) at its stdin's end; it reads a relay instead,
  // ended only once every request read has been answered.
  const relay = new PassThrough();
  input.pipe(relay, { end: false });
  const guard = new ArgumentsGuard(new StdioServerTransport(relay, options.stdout ?? process.stdout));
  const inputEnded = (): void => void guard.answered().then(() => relay.end());
  input.once('end', inputEnded);
  input.once('close', inputEnded);
  const handle = sdkServeStdio(factory, { transport: guard });
  let closing: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (closing ??= (async () => {
      input.off('end', inputEnded);
      input.off('close', inputEnded);
      input.unpipe(relay);
      if (input === process.stdin) input.pause(); // lets the process exit
      await handle.close();
    })());
  const close = async (closeOptions: { readonly graceMs?: number; readonly signal?: AbortSignal } = {}): Promise<void> => {
    if (closing === undefined) {
      const graceMs = closeOptions.graceMs ?? 10_000;
      const grace = AbortSignal.timeout(graceMs);
      const stop = closeOptions.signal === undefined ? grace : AbortSignal.any([grace, closeOptions.signal]);
      await new Promise<void>((resolve) => {
        stop.addEventListener('abort', () => resolve(), { once: true });
        void guard.answered().then(resolve);
      });
    }
    return destroy();
  };
  return { url: 'stdio', sessions: 0, notify: NO_NOTIFIER, close, destroy };
}

const noop = (): void => {};
const NO_NOTIFIER: ServerNotifier = { toolsChanged: noop, promptsChanged: noop, resourcesChanged: noop, resourceUpdated: noop };

interface Session {
  readonly transport: WebStandardStreamableHTTPServerTransport;
  lastSeen: number;
  /** POSTs of this session not answered yet: a session with one is not idle, however long the call runs. */
  open: number;
}

/**
 * Serves MCP over Streamable HTTP at `/mcp`, both protocol eras on one endpoint, all sharing one runtime
 * (and so one set of limits):
 * - 2026-07-28 requests (a `_meta` envelope with the protocol version; `Mcp-Method`/`Mcp-Name` headers
 *   checked against the body by the SDK) go to the SDK's `createMcpHandler`, a server per request;
 * - 2025-11-25, 2025-06-18 and older clients (`initialize`, no envelope) get a session of their own
 *   (`Mcp-Session-Id`), capped by `maxSessions` and closed after `sessionIdleMs` without a request.
 * `Host` and `Origin` are checked (DNS rebinding), a bearer token is required when configured, and
 * `/metrics` is served beside it when a registry is given.
 */
export async function serveHttp(given: McpServerFactory, options: HttpServeOptions = {}): Promise<Serving> {
  // Non-object tool arguments are answered by the server's side of each transport: after the token, Host,
  // Origin, session and header checks, never instead of them.
  const factory: McpServerFactory = async (context) => guardArguments(await given(context));
  const host = options.host ?? '127.0.0.1';
  const maxSessions = positiveInteger('maxSessions', options.maxSessions ?? 1_000);
  const sessionIdleMs = positiveInteger('sessionIdleMs', options.sessionIdleMs ?? 600_000);
  const sessions = new Map<string, Session>();
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);
  const metrics = options.registry === undefined ? undefined : metricsHandler(options.registry);
  const modern = createMcpHandler(factory, { legacy: 'reject' });
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();
  let draining = false;
  // POSTs not yet answered: each leaves on its response's 'close' (answered, or its client gone).
  const inFlight = new Set<ServerResponse>();
  let drained: (() => void) | undefined;
  const settled = (res: ServerResponse): void => {
    inFlight.delete(res);
    if (inFlight.size === 0) drained?.();
  };

  const closeSession = (id: string, reason: 'deleted' | 'idle' | 'shutdown'): Promise<void> => {
    const session = sessions.get(id);
    if (session === undefined) return Promise.resolve();
    sessions.delete(id);
    options.onSessionClosed?.(id, reason);
    return session.transport.close().catch(() => {});
  };
  const sweep = (now: number): void => {
    for (const [id, session] of sessions) if (session.open === 0 && now - session.lastSeen >= sessionIdleMs) void closeSession(id, 'idle');
  };
  const sweeper = setInterval(() => sweep(Date.now()), Math.min(Math.max(sessionIdleMs / 4, 50), 30_000));
  sweeper.unref();

  /** 2025 revisions: a session per client, over the SDK's web-standard transport. */
  const legacy = async (request: Request, parsedBody: unknown): Promise<Response> => {
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId !== null) {
      const session = sessions.get(sessionId);
      if (session === undefined) return jsonError(404, -32001, 'Unknown or expired session: send initialize again');
      session.lastSeen = Date.now();
      if (request.method === 'DELETE') {
        const response = await session.transport.handleRequest(request, { parsedBody });
        void closeSession(sessionId, 'deleted');
        return response;
      }
      return session.transport.handleRequest(request, { parsedBody });
    }
    if (request.method !== 'POST') return jsonError(400, -32000, 'Missing Mcp-Session-Id');
    if (!isInitializeRequest(parsedBody)) return jsonError(400, -32000, 'The first request of a session must be initialize');
    if (sessions.size >= maxSessions) sweep(Date.now());
    if (sessions.size >= maxSessions) {
      return jsonError(503, -32000, `Too many open sessions (${maxSessions}): close one with DELETE, or retry later`, { 'retry-after': String(Math.ceil(Math.min(sessionIdleMs, 60_000) / 1000)) });
    }
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, { transport, lastSeen: Date.now(), open: 0 }),
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined && sessions.has(transport.sessionId)) void closeSession(transport.sessionId, 'deleted');
    };
    const server = await factory({ era: 'legacy' });
    await server.connect(transport);
    closeCancelledStreams(transport);
    const response = await transport.handleRequest(request, { parsedBody });
    // Refused by the transport (a wrong Accept or Content-Type, a bad protocol version): no session was made,
    // and nothing of this server may stay (a proxy's server holds an upstream session).
    if (transport.sessionId === undefined || !sessions.has(transport.sessionId)) void server.close().catch(() => {});
    return response;
  };

  const router: FetchHandler = {
    fetch: async (request, requestOptions) => {
      const parsedBody = requestOptions?.parsedBody;
      if (await isLegacyRequest(request, parsedBody)) return legacy(request, parsedBody);
      return modern.fetch(request, requestOptions);
    },
  };
  const route = (req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> => callFetchHandler(router, req, res, parsedBody);

  const sessionOf = (req: IncomingMessage): Session | undefined => {
    const id = req.headers['mcp-session-id'];
    return typeof id === 'string' ? sessions.get(id) : undefined;
  };
  const loopback = isLoopback(host);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (loopback && !allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      return deny(res, 403, `Host "${req.headers.host ?? ''}" is not allowed`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) return deny(res, 403, `Origin "${origin}" is not allowed`);
    if (origin !== undefined) {
      // An allowed browser origin (CORS): it may read the answer and the session headers.
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      res.setHeader('access-control-expose-headers', 'mcp-session-id, mcp-protocol-version, www-authenticate, retry-after');
      if (req.method === 'OPTIONS') {
        // A preflight: no credentials on it, so it is answered before the token check.
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
          'access-control-allow-headers': req.headers['access-control-request-headers'] ?? 'content-type, accept, authorization, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id',
          'access-control-max-age': '600',
        });
        return void res.end();
      }
    }
    const isMetrics = path === '/metrics' && metrics !== undefined;
    if (path !== '/mcp' && !isMetrics) return deny(res, 404, 'Not found: MCP is served at /mcp');
    // The token guards /metrics too on this port: tool names and traffic are not for anyone who can reach it.
    if (tokenDigest !== undefined) {
      const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (given === undefined || !timingSafeEqual(digest(given), tokenDigest)) {
        res.setHeader('www-authenticate', 'Bearer');
        return deny(res, 401, 'A valid bearer token is required');
      }
    }
    if (isMetrics) return metrics(req, res);
    if (draining) {
      res.setHeader('retry-after', '1');
      return deny(res, 503, 'The server is shutting down: retry on another replica or later');
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return deny(res, 415, `Content-Encoding "${encoding}" is not supported: send the body uncompressed`, true);
    if (req.method !== 'POST') {
      // A session's open GET stream (its notifications) is activity too: the session is not idle while it listens.
      const listening = req.method === 'GET' ? sessionOf(req) : undefined;
      if (listening !== undefined) {
        listening.open++;
        res.once('close', () => {
          listening.open--;
          listening.lastSeen = Date.now();
        });
      }
      return route(req, res);
    }
    // In flight from its first byte until answered, or until its client goes away (nobody is left to answer:
    // the tool call itself is bounded by the runtime's close()): close() waits for a body still arriving too.
    inFlight.add(res);
    const session = sessionOf(req);
    if (session !== undefined) session.open++;
    res.once('close', () => {
      settled(res);
      if (session !== undefined) {
        session.open--;
        session.lastSeen = Date.now(); // idle from the answer on, not from the request
      }
    });
    const body = await readJson(req, maxBodyBytes);
    // Shutting down while its body arrived: not taken, and told so (a 503 it can retry elsewhere).
    if (draining) {
      res.setHeader('retry-after', '1');
      return deny(res, 503, 'The server is shutting down: retry on another replica or later');
    }
    return route(req, res, body);
  };

  // A request (headers and body) must arrive whole within requestTimeoutMs, checked this often: a client
  // trickling a body holds its buffer no longer than that.
  const requestTimeout = positiveInteger('requestTimeoutMs', options.requestTimeoutMs ?? 30_000);
  const http: HttpServer = createServer({ requestTimeout, connectionsCheckingInterval: Math.min(Math.max(Math.floor(requestTimeout / 4), 50), 30_000) }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof BodyError) return deny(res, error.status, error.message, error.close);
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

  let destroying: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroying ??= (async () => {
      draining = true;
      clearInterval(sweeper);
      await Promise.all([...sessions.keys()].map((id) => closeSession(id, 'shutdown')));
      await modern.close().catch(() => {});
      // A request not answered yet (its body still arriving, say) is told why before its connection closes:
      // its 503 is written and flushed (for up to a second) first.
      const told: Promise<void>[] = [];
      for (const res of inFlight) {
        if (res.headersSent) continue;
        res.setHeader('retry-after', '1');
        told.push(new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_000);
          res.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        }));
        deny(res, 503, 'The server is shutting down: retry on another replica or later', true);
      }
      await Promise.all(told);
      await new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    })());
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/mcp`,
    get sessions() {
      return sessions.size;
    },
    notify: modern.notify,
    close: (closeOptions = {}) =>
      (closing ??= (async () => {
        draining = true;
        const graceMs = closeOptions.graceMs ?? 10_000;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stop = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
          closeOptions.signal?.addEventListener('abort', () => resolve(), { once: true });
        });
        // Every request in flight is answered (its tool call settles: the runtime's own close() bounds that) before the transports close.
        const answered = inFlight.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve));
        await Promise.race([answered, stop]);
        clearTimeout(timer);
        await destroy();
      })()),
    destroy,
  };
}

/**
 * A 2025-revision request the client cancels (`notifications/cancelled`, which the SDK client sends when
 * its call is aborted) gets no response: the SDK drops it, as the spec asks (basic/utilities/cancellation).
 * Its SSE response stream would then stay open until the session closes, and hold a graceful shutdown
 * for its whole grace period: this closes that request's stream once the notification is delivered.
 */
function closeCancelledStreams(transport: WebStandardStreamableHTTPServerTransport): void {
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    deliver?.(message, extra);
    const requestId = cancelledRequestId(message);
    if (requestId !== undefined) transport.closeSSEStream(requestId);
  };
}

/** The `requestId` of a `notifications/cancelled`, `undefined` for every other message. */
function cancelledRequestId(message: JSONRPCMessage): string | number | undefined {
  if (!('method' in message) || message.method !== 'notifications/cancelled' || 'id' in message) return undefined;
  const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
  return typeof requestId === 'string' || typeof requestId === 'number' ? requestId : undefined;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new McpConcurrencyError('invalid_argument', `Expected \`${name}\` to be an integer > 0, got \`${String(value)}\` (${typeof value})`);
  return value;
}

function jsonError(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), { status, headers: { 'content-type': 'application/json', ...headers } });
}

class BodyError extends Error {
  /** `close`: the connection is closed after the answer (`Connection: close`). */
  constructor(readonly status: number, message: string, readonly close = false) {
    super(message);
  }
}

/** After a body went over the limit, how much more of it is read (and dropped) so the 413 arrives whole. */
const DRAIN_BYTES = 64 * 1024 * 1024;
/** How long that may take, in ms; past either bound the socket is closed (a client that never stops sending). */
const DRAIN_MS = 10_000;

/**
 * The request body as JSON, at most `maxBytes` (a declared Content-Length over it counts as over). A body
 * over the limit is read to its end and dropped (up to DRAIN_BYTES more, for up to DRAIN_MS) before the
 * 413 is thrown: a server that answers and closes while the client is still sending makes the client's
 * next write meet a reset (ECONNRESET, EPIPE) instead of the answer. The 413 then closes the connection.
 */
function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > maxBytes;
    let drained = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tooLarge = (): BodyError => new BodyError(413, `The request body is over ${maxBytes} bytes`, true);
    let settled = false;
    // Once: the 'close' after an 'end' must not build an error (a stack trace per request) it would throw away.
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.removeListener('data', onData);
      outcome();
    };
    const startDrain = (): void => {
      chunks.length = 0;
      timer = setTimeout(() => finish(() => reject(tooLarge())), DRAIN_MS);
      timer.unref();
    };
    const onData = (chunk: Buffer): void => {
      if (over) {
        drained += chunk.length;
        if (drained > DRAIN_BYTES) finish(() => reject(tooLarge()));
        return;
      }
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      over = true;
      drained = size - maxBytes;
      startDrain();
    };
    if (over) startDrain();
    req.on('data', onData);
    req.once('error', (error) => finish(() => reject(error)));
    // Cut short by the client (no 'end'): settle anyway (a no-op after 'end').
    req.once('close', () => finish(() => reject(new BodyError(400, 'The request body was cut short'))));
    req.once('end', () =>
      finish(() => {
        if (over) return reject(tooLarge());
        try {
          resolve(JSON.parse((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8')) as unknown);
        } catch {
          reject(new BodyError(400, 'The request body is not JSON'));
        }
      }),
    );
  });
}

function deny(res: ServerResponse, status: number, message: string, close = false): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  // Any spelling of ::1 (0:0:0:0:0:0:0:1), and IPv4-mapped loopback.
  if (isIP(h) === 6) return new URL(`http://[${h}]`).hostname === '[::1]' || /^\[::ffff:7f/.test(new URL(`http://[${h}]`).hostname);
  return false;
}
