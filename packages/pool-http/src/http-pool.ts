import {
  checkFunction,
  checkPositive,
  checkPositiveInteger,
  describeThrown,
  invalidArgument,
  McpConcurrencyError,
  Scheduler,
  type Limiter,
  type RetryPolicy,
  type SchedulerObserver,
  type ToolCall,
  type ToolContext,
  type ToolResult,
} from '@mcp-concurrency/core-scheduler';
import { Agent, type Dispatcher } from 'undici';
import { parseRetryAfter, readBody, type HttpResponse, type ResponseType } from './response.js';
import { DestinationGuard } from './ssrf.js';

export interface HttpPoolOptions {
  /** A dispatcher you own (Agent, Pool, ProxyAgent). With one, DNS answers are checked before dispatch, not at connect. @default an Agent built from the options below */
  readonly dispatcher?: Dispatcher;
  /** Connections per origin in the built Agent. @default 10 */
  readonly connections?: number;
  /** Requests in flight per connection (HTTP/1.1 pipelining). @default 1 */
  readonly pipelining?: number;
  /** Idle keep-alive time. @default 4_000 */
  readonly keepAliveTimeoutMs?: number;
  /** Negotiate HTTP/2 over TLS where the server offers it. @default false */
  readonly allowH2?: boolean;
  /** Requests running at once, across origins. @default 50 */
  readonly maxParallel?: number;
  /** Requests running at once per origin. @default `connections` */
  readonly maxPerOrigin?: number;
  /** Rate limiters by origin (`https://api.example.com`); a 429 from that origin throttles its limiter. */
  readonly rateLimits?: Readonly<Record<string, Limiter>>;
  /** @default 10_000 */
  readonly connectTimeoutMs?: number;
  /** Time to the response headers, per attempt. @default 30_000 */
  readonly headersTimeoutMs?: number;
  /** Longest gap between body chunks, per attempt. @default 30_000 */
  readonly bodyTimeoutMs?: number;
  /** The whole call, queue wait and retries included. @default 60_000 */
  readonly timeoutMs?: number;
  /** Retries for idempotent methods on 429, 502, 503, 504 and connection resets, honouring `Retry-After`. @default 2 */
  readonly retry?: number | Omit<RetryPolicy, 'retryOn'>;
  /** Bytes of response body read at most. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /** Origins that may be called (`https://api.example.com`, `https://*.example.com`). @default any public origin */
  readonly allowOrigins?: readonly string[];
  /** Allow loopback, private and link-local addresses: for tests and trusted setups only. @default false */
  readonly allowPrivateNetwork?: boolean;
  /** Sent with every request unless the request sets them. @default { 'user-agent': 'mcp-concurrency' } */
  readonly headers?: Readonly<Record<string, string>>;
  /** Scheduler observers (metrics). */
  readonly observers?: readonly SchedulerObserver[];
  /**
   * Called with each request's outgoing headers, in the context the request is made in (before it
   * is queued): add trace context here, e.g. `httpTraceHeaders()` of tracing-opentelemetry writes
   * W3C `traceparent` / `tracestate`. A hook that throws does not fail the request. @default none
   */
  readonly injectHeaders?: (headers: Record<string, string>) => void;
}

export interface HttpRequest {
  readonly url: string | URL;
  /** @default 'GET' */
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string or Buffer is sent as is; anything else as JSON. */
  readonly body?: unknown;
  /** Overrides the pool's whole-call deadline. */
  readonly timeoutMs?: number;
  readonly maxBodyBytes?: number;
  /** @default 'auto' (JSON for JSON content types, else text) */
  readonly responseType?: ResponseType;
  /** Higher first. @default 0 */
  readonly priority?: number;
}

export interface FetchOptions {
  readonly signal?: AbortSignal;
}

export interface HttpPoolStats {
  /** Per origin, undici's pool counts. */
  readonly origins: Readonly<Record<string, { connected: number; free: number; pending: number; queued: number; running: number; size: number }>>;
  readonly running: number;
  readonly queued: number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'ECONNREFUSED', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
/** Distinct origins that get a lane of their own; more share one, so a model cannot grow state without bound. */
const MAX_ORIGIN_LANES = 1_000;
const SHARED_LANE = 'http (other origins)';

interface Attempt {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer | undefined;
  readonly deadline: number;
  readonly maxBodyBytes: number;
  readonly responseType: ResponseType;
  readonly limiter: Limiter | undefined;
}

/**
 * Concurrent HTTP on undici under the scheduler's limits: a global cap, a cap and a rate limiter per
 * origin, one deadline per call that includes queue time, retries with `Retry-After`, body caps and
 * SSRF guards. `fetchAll()` gives one `ToolResult` per request, in input order.
 *
 * @example
 * const http = new HttpPool({ maxParallel: 20, rateLimits: { 'https://api.github.com': new TokenBucket({ rate: 10 }) } });
 * const results = await http.fetchAll(urls, { signal });
 */
export class HttpPool {
  readonly #dispatcher: Dispatcher;
  readonly #owned: boolean;
  readonly #guard: DestinationGuard;
  readonly #scheduler: Scheduler;
  readonly #lanes = new Map<string, string>();
  readonly #rateLimits: ReadonlyMap<string, Limiter>;
  readonly #maxPerOrigin: number;
  readonly #retry: RetryPolicy | undefined;
  readonly #timeoutMs: number;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #injectHeaders: ((headers: Record<string, string>) => void) | undefined;
  readonly #checkDnsBeforeDispatch: boolean;

  constructor(options: HttpPoolOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    const connections = options.connections === undefined ? 10 : checkPositiveInteger('connections', options.connections);
    this.#maxPerOrigin = options.maxPerOrigin === undefined ? connections : checkPositiveInteger('maxPerOrigin', options.maxPerOrigin);
    this.#timeoutMs = options.timeoutMs === undefined ? 60_000 : checkPositive('timeoutMs', options.timeoutMs);
    this.#headersTimeoutMs = options.headersTimeoutMs === undefined ? 30_000 : checkPositive('headersTimeoutMs', options.headersTimeoutMs);
    this.#bodyTimeoutMs = options.bodyTimeoutMs === undefined ? 30_000 : checkPositive('bodyTimeoutMs', options.bodyTimeoutMs);
    this.#maxBodyBytes = options.maxBodyBytes === undefined ? 10 * 1024 * 1024 : checkPositiveInteger('maxBodyBytes', options.maxBodyBytes);
    if (options.allowOrigins !== undefined && !Array.isArray(options.allowOrigins)) {
      throw invalidArgument('allowOrigins', 'an array of origins', options.allowOrigins);
    }
    this.#guard = new DestinationGuard(options.allowOrigins, options.allowPrivateNetwork === true);
    this.#headers = { 'user-agent': 'mcp-concurrency', ...options.headers };
    if (options.injectHeaders !== undefined) checkFunction('injectHeaders', options.injectHeaders);
    this.#injectHeaders = options.injectHeaders;
    const retry = options.retry ?? 2;
    this.#retry = typeof retry === 'number' ? (retry === 0 ? undefined : { retries: retry }) : retry;
    const rateLimits = new Map<string, Limiter>();
    for (const [origin, limiter] of Object.entries(options.rateLimits ?? {})) {
      let normalized: string;
      try {
        normalized = new URL(origin).origin;
      } catch {
        throw invalidArgument(`rateLimits["${origin}"]`, 'keyed by an origin such as https://api.example.com', origin);
      }
      if (typeof limiter?.acquire !== 'function') throw invalidArgument(`rateLimits["${origin}"]`, 'a Limiter', limiter);
      rateLimits.set(normalized, limiter);
    }
    this.#rateLimits = rateLimits;
    this.#owned = options.dispatcher === undefined;
    this.#checkDnsBeforeDispatch = !this.#owned;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({
        connections,
        pipelining: options.pipelining ?? 1,
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
        allowH2: options.allowH2 ?? false,
        // Every address a name resolves to is checked at connect time: no DNS-rebinding window.
        connect: { timeout: options.connectTimeoutMs ?? 10_000, lookup: this.#guard.lookup },
      });
    this.#scheduler = new Scheduler({
      maxParallel: options.maxParallel === undefined ? 50 : checkPositiveInteger('maxParallel', options.maxParallel),
      observers: options.observers,
    });
  }

  /** Per-origin pool counts and the scheduler's, for metrics. */
  stats(): HttpPoolStats {
    const agentStats = (this.#dispatcher as { stats?: Record<string, HttpPoolStats['origins'][string]> }).stats ?? {};
    const origins = Object.fromEntries(
      Object.entries(agentStats).map(([origin, s]) => [origin, { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running, size: s.size }]),
    );
    return { origins, running: this.#scheduler.running, queued: this.#scheduler.queued };
  }

  /** One request; resolves with the response or rejects with a coded error. */
  async request<B = unknown>(request: HttpRequest | string, options: FetchOptions = {}): Promise<HttpResponse<B>> {
    const [result] = await this.fetchAll([request], options);
    if (result!.status === 'ok') return result!.value as HttpResponse<B>;
    const error = result!.error!;
    throw new McpConcurrencyError(error.code, error.message, { retryAfterMs: error.retryAfterMs });
  }

  /** Many requests at once under every limit; one result per request, in input order. */
  async fetchAll(requests: readonly (HttpRequest | string)[], options: FetchOptions = {}): Promise<ToolResult<HttpResponse>[]> {
    if (!Array.isArray(requests)) throw invalidArgument('requests', 'an array of URLs or requests', requests);
    const now = Date.now();
    const results = new Array<ToolResult<HttpResponse>>(requests.length);
    // Requests submitted together with the same timeout share one deadline: one timer and one batch
    // (one abort listener) per distinct deadline, not one each.
    const groups = new Map<number, { calls: ToolCall[]; indexes: number[] }>();
    requests.forEach((request, i) => {
      const id = String(i);
      let attempt: Attempt;
      try {
        attempt = this.#prepare(typeof request === 'string' ? { url: request } : request, now);
      } catch (error) {
        const info = error instanceof McpConcurrencyError ? error : new McpConcurrencyError('invalid_argument', describeThrown(error));
        results[i] = { id, tool: 'http', status: 'rejected', error: { code: info.code, message: info.message }, queuedMs: 0, runMs: 0, attempts: 0 };
        return;
      }
      let group = groups.get(attempt.deadline);
      if (group === undefined) groups.set(attempt.deadline, (group = { calls: [], indexes: [] }));
      const priority = typeof request === 'string' ? undefined : request.priority;
      group.calls.push({ id, tool: this.#laneFor(attempt.url.origin), params: attempt, priority });
      group.indexes.push(i);
    });
    await Promise.all(
      [...groups].map(async ([deadline, { calls, indexes }]) => {
        const controller = new AbortController();
        const ms = deadline - now;
        const timer = setTimeout(() => controller.abort(new McpConcurrencyError('timeout', `The request did not complete within ${ms} ms (queue wait and retries included)`)), ms);
        const signal = options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
        try {
          const settled = await this.#scheduler.runBatch(calls, { signal });
          settled.forEach((result, k) => (results[indexes[k]!] = result as ToolResult<HttpResponse>));
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return results;
  }

  /** Finishes in-flight requests, then closes the built Agent's sockets. */
  async close(): Promise<void> {
    await this.#scheduler.close();
    if (this.#owned) await this.#dispatcher.close();
  }

  /** Aborts everything now and destroys the built Agent's sockets. */
  async destroy(): Promise<void> {
    await this.#scheduler.destroy();
    if (this.#owned) await this.#dispatcher.destroy();
  }

  #prepare(request: HttpRequest, now: number): Attempt {
    if (typeof request !== 'object' || request === null) throw invalidArgument('request', 'a URL or { url, method, ... }', request);
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      throw invalidArgument('url', 'an absolute http(s) URL', request.url);
    }
    this.#guard.check(url);
    const method = (request.method ?? 'GET').toUpperCase();
    if (!/^[A-Z]+$/.test(method)) throw invalidArgument('method', 'an HTTP method', request.method);
    const headers: Record<string, string> = { ...this.#headers, ...request.headers };
    if (this.#injectHeaders !== undefined) {
      try {
        this.#injectHeaders(headers);
      } catch {
        // Tracing must never cost a request its result.
      }
    }
    let body: string | Buffer | undefined;
    if (request.body !== undefined) {
      if (typeof request.body === 'string' || Buffer.isBuffer(request.body)) body = request.body;
      else {
        body = JSON.stringify(request.body);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
    }
    const timeoutMs = request.timeoutMs === undefined ? this.#timeoutMs : checkPositive('timeoutMs', request.timeoutMs);
    return {
      url,
      method,
      headers,
      body,
      deadline: now + timeoutMs,
      maxBodyBytes: request.maxBodyBytes === undefined ? this.#maxBodyBytes : checkPositiveInteger('maxBodyBytes', request.maxBodyBytes),
      responseType: request.responseType ?? 'auto',
      limiter: this.#rateLimits.get(url.origin),
    };
  }

  /** Each origin is a tool of its own in the scheduler: its own cap and rate limiter, no head-of-line blocking across origins. */
  #laneFor(origin: string): string {
    let name = this.#lanes.get(origin);
    if (name !== undefined) return name;
    if (this.#lanes.size >= MAX_ORIGIN_LANES) name = SHARED_LANE;
    else name = `http ${origin}`;
    this.#lanes.set(origin, name);
    if (!this.#scheduler.toolNames.includes(name)) {
      const limiter = name === SHARED_LANE ? undefined : this.#rateLimits.get(origin);
      if (limiter !== undefined) this.#scheduler.setLimiter(`rate ${origin}`, limiter);
      this.#scheduler.register(
        { name, run: (attempt: Attempt, ctx: ToolContext) => this.#attempt(attempt, ctx.signal) },
        { maxParallel: this.#maxPerOrigin, limiters: limiter === undefined ? [] : [`rate ${origin}`], retry: this.#retry },
      );
    }
    return name;
  }

  async #attempt(attempt: Attempt, signal: AbortSignal): Promise<HttpResponse> {
    const { url, method } = attempt;
    const label = `${method} ${url.href}`;
    if (this.#checkDnsBeforeDispatch) await this.#checkResolved(url);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: method as Dispatcher.HttpMethod,
        headers: attempt.headers,
        body: attempt.body,
        signal,
        headersTimeout: this.#headersTimeoutMs,
        bodyTimeout: this.#bodyTimeoutMs,
      });
    } catch (error) {
      throw this.#transportError(error, attempt, label);
    }
    const { statusCode, headers, body } = response;
    if (statusCode >= 400) {
      // Drain a little so the connection can be reused; destroy anything bigger.
      await body.dump({ limit: 64 * 1024 }).catch(() => body.destroy());
      const retryAfterMs = parseRetryAfter(headers['retry-after']);
      if (statusCode === 429) attempt.limiter?.throttle?.(retryAfterMs ?? 1_000);
      const retryable = IDEMPOTENT.has(method) && RETRY_STATUSES.has(statusCode) && Date.now() + (retryAfterMs ?? 0) < attempt.deadline;
      const wait = retryAfterMs === undefined ? '' : `; Retry-After ${retryAfterMs} ms`;
      throw new McpConcurrencyError('http_error', `${label} answered HTTP ${statusCode}${wait}`, { retryable, retryAfterMs });
    }
    try {
      const { value, bytes } = await readBody(body, headers, attempt.maxBodyBytes, attempt.responseType, url.href);
      return { url: url.href, status: statusCode, headers, body: value, bytes };
    } catch (error) {
      if (error instanceof McpConcurrencyError) throw error;
      throw this.#transportError(error, attempt, label);
    }
  }

  /** With a dispatcher we did not build, its connector skips our lookup: resolve and check first. */
  async #checkResolved(url: URL): Promise<void> {
    const { lookup } = await import('node:dns/promises');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const addresses = await lookup(host, { all: true });
    const refused = addresses.find((a) => this.#guard.isBlocked(a.address));
    if (refused !== undefined) {
      throw new McpConcurrencyError('forbidden_destination', `${host} resolves to ${refused.address}, a private, loopback or link-local address; refused`);
    }
  }

  #transportError(error: unknown, attempt: Attempt, label: string): McpConcurrencyError {
    if (error instanceof McpConcurrencyError) return error;
    const code = String((error as { code?: unknown } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code ?? '');
    const cause = (error as { cause?: unknown } | null)?.cause;
    if (cause instanceof McpConcurrencyError) return cause; // our lookup refused the address
    if (TIMEOUT_CODES.has(code)) {
      return new McpConcurrencyError('timeout', `${label}: ${describeThrown(error)} (${code})`, { cause: error, retryable: code === 'UND_ERR_CONNECT_TIMEOUT' });
    }
    const retryable = RESET_CODES.has(code) && IDEMPOTENT.has(attempt.method) && Date.now() < attempt.deadline;
    return new McpConcurrencyError('http_error', `${label} failed: ${describeThrown(error)}${code ? ` (${code})` : ''}`, { cause: error, retryable });
  }
}
