import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { checkFunction, checkPositive, checkPositiveInteger, invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';
import { Agent, type Dispatcher } from 'undici';
import type { NetworkInterfaces } from './address-policy.js';
import { attemptError, errorExcerpt, requestSecrets, statusError } from './attempt-errors.js';
import { Lifecycle, type CloseOptions } from './lifecycle.js';
import { readBody, type HttpResponse, type ResponseType } from './response.js';
import { DestinationGuard, type LookupAll } from './ssrf.js';

export interface HttpClientOptions {
  /** A dispatcher you own (Agent, Pool, ProxyAgent). With one, names are resolved and checked before dispatch, not at connect. @default an Agent built from the options below */
  readonly dispatcher?: Dispatcher;
  /** Connections per origin in the built Agent. @default 10 */
  readonly connections?: number;
  /** Requests in flight per connection (HTTP/1.1 pipelining). @default 1 */
  readonly pipelining?: number;
  /** Idle keep-alive time, in ms. @default 4_000 */
  readonly keepAliveTimeoutMs?: number;
  /** Negotiate HTTP/2 over TLS where the server offers it. @default false */
  readonly allowH2?: boolean;
  /** TCP and TLS connect, in ms. @default 10_000 */
  readonly connectTimeoutMs?: number;
  /** Time to the response headers, in ms. @default 30_000 */
  readonly headersTimeoutMs?: number;
  /** Longest gap between body chunks, in ms. @default 30_000 */
  readonly bodyTimeoutMs?: number;
  /** Bytes of response body read at most. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /** Origins that may be called (`https://api.example.com`, `https://*.example.com`). @default any origin whose addresses pass the guard */
  readonly allowOrigins?: readonly string[];
  /** Allow loopback, private, special-purpose and the host's own addresses: for tests and trusted setups only. @default false */
  readonly allowPrivateNetwork?: boolean;
  /** Sent with every request unless the request sets them. @default { 'user-agent': 'mcp-concurrency' } */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Called with each request's outgoing headers when the request is prepared, in the caller's context
   * (for `HttpPool`, before the request is queued; for `httpTool`, inside the tool's run): add trace
   * context here. A hook that throws does not fail the request. @default none
   * @example injectHeaders: httpTraceHeaders() // tracing-opentelemetry: W3C `traceparent`, `tracestate`
   */
  readonly injectHeaders?: (headers: Record<string, string>) => void;
  /** The host's interfaces, for the guard. @default os.networkInterfaces */
  readonly networkInterfaces?: NetworkInterfaces;
  /** Name resolution, for the guard. @default dns.lookup */
  readonly lookup?: LookupAll;
}

export interface HttpRequest {
  readonly url: string | URL;
  /** @default 'GET' */
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string or Buffer is sent as is; anything else as JSON. */
  readonly body?: unknown;
  /** Overrides the client's body cap, in bytes. */
  readonly maxBodyBytes?: number;
  /** @default 'auto' (JSON for JSON content types, else text) */
  readonly responseType?: ResponseType;
}

/** A request checked and ready to send: what `prepare()` returns and `send()` takes. */
export interface PreparedRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Buffer | undefined;
  readonly maxBodyBytes: number;
  readonly responseType: ResponseType;
}

/**
 * One HTTP attempt on undici, with no queue and no retries of its own: the request is checked (SSRF
 * guard, method, body), sent, its body read under the cap, and any failure thrown as an
 * `McpConcurrencyError` that says whether another attempt may succeed (`retryable`) and when
 * (`retryAfterMs`, from `Retry-After` on a 429 or 503). Limits, deadlines and retries belong to
 * whichever scheduler runs the call.
 *
 * Errors: `invalid_argument` (a bad request), `forbidden_destination` (the guard), `http_error` (a status
 * of 400 or more, a transport failure, invalid JSON), `timeout` (undici's connect, headers or body
 * timeout), `response_too_large`, `cancelled` (the signal), `closed` (after `close()` or `destroy()`).
 *
 * @example
 * const client = new HttpClient({ allowOrigins: ['https://api.example.com'] });
 * const response = await client.request({ url: 'https://api.example.com/users/1' }, { signal });
 */
export class HttpClient {
  readonly #dispatcher: Dispatcher;
  readonly #owned: boolean;
  readonly #guard: DestinationGuard;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #injectHeaders: ((headers: Record<string, string>) => void) | undefined;
  readonly #lifecycle: Lifecycle;

  constructor(options: HttpClientOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    const connections = options.connections === undefined ? 10 : checkPositiveInteger('connections', options.connections);
    this.#headersTimeoutMs = options.headersTimeoutMs === undefined ? 30_000 : checkPositive('headersTimeoutMs', options.headersTimeoutMs);
    this.#bodyTimeoutMs = options.bodyTimeoutMs === undefined ? 30_000 : checkPositive('bodyTimeoutMs', options.bodyTimeoutMs);
    this.#maxBodyBytes = options.maxBodyBytes === undefined ? 10 * 1024 * 1024 : checkPositiveInteger('maxBodyBytes', options.maxBodyBytes);
    this.#guard = new DestinationGuard(options);
    this.#headers = { 'user-agent': 'mcp-concurrency', ...options.headers };
    if (options.injectHeaders !== undefined) checkFunction('injectHeaders', options.injectHeaders);
    this.#injectHeaders = options.injectHeaders;
    this.#owned = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({
        connections,
        pipelining: options.pipelining === undefined ? 1 : checkPositiveInteger('pipelining', options.pipelining),
        keepAliveTimeout: options.keepAliveTimeoutMs === undefined ? 4_000 : checkPositive('keepAliveTimeoutMs', options.keepAliveTimeoutMs),
        allowH2: options.allowH2 ?? false,
        // Every address a name resolves to is checked at connect time: no DNS-rebinding window.
        connect: { timeout: options.connectTimeoutMs === undefined ? 10_000 : checkPositive('connectTimeoutMs', options.connectTimeoutMs), lookup: this.#guard.lookup },
      });
    this.#lifecycle = new Lifecycle('HttpClient', {
      close: () => (this.#owned ? this.#dispatcher.close() : Promise.resolve()),
      destroy: () => (this.#owned ? this.#dispatcher.destroy() : Promise.resolve()),
      // Destroying the Agent we built fails every request on it: no controller per request needed.
      destroyEndsWork: this.#owned,
    });
  }

  /** Per-origin connection counts of the built Agent (`{}` for a dispatcher without `stats`). */
  get stats(): Readonly<Record<string, { connected: number; free: number; pending: number; queued: number; running: number; size: number }>> {
    const stats = (this.#dispatcher as { stats?: Record<string, { connected: number; free: number; pending: number; queued: number; running: number; size: number }> }).stats ?? {};
    return Object.fromEntries(
      Object.entries(stats).map(([origin, s]) => [origin, { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running, size: s.size }]),
    );
  }

  /** Checks a request without sending it: URL, guard (for IP literals), method, body. Throws `invalid_argument` or `forbidden_destination`. */
  prepare(request: HttpRequest | string | URL): PreparedRequest {
    const r: HttpRequest = typeof request === 'string' || request instanceof URL ? { url: request } : request;
    if (typeof r !== 'object' || r === null) throw invalidArgument('request', 'a URL or { url, method, ... }', r);
    let url: URL;
    try {
      url = new URL(r.url);
    } catch {
      throw invalidArgument('url', 'an absolute http(s) URL', r.url);
    }
    this.#guard.check(url);
    const method = (r.method ?? 'GET').toUpperCase();
    if (!/^[A-Z]+$/.test(method)) throw invalidArgument('method', 'an HTTP method', r.method);
    const headers: Record<string, string> = { ...this.#headers, ...r.headers };
    if (this.#injectHeaders !== undefined) {
      try {
        this.#injectHeaders(headers);
      } catch {
        // Tracing must never cost a request its result.
      }
    }
    let body: string | Buffer | undefined;
    if (r.body !== undefined) {
      if (typeof r.body === 'string' || Buffer.isBuffer(r.body)) body = r.body;
      else {
        body = JSON.stringify(r.body);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
    }
    return {
      url,
      method,
      headers,
      body,
      maxBodyBytes: r.maxBodyBytes === undefined ? this.#maxBodyBytes : checkPositiveInteger('maxBodyBytes', r.maxBodyBytes),
      responseType: r.responseType ?? 'auto',
    };
  }

  /** One attempt: resolves with the response (status below 400) or rejects with a coded error. */
  async request<B = unknown>(request: HttpRequest | string | URL, options: { readonly signal?: AbortSignal } = {}): Promise<HttpResponse<B>> {
    return this.send(this.prepare(request), options.signal) as Promise<HttpResponse<B>>;
  }

  /** One attempt of a prepared request. */
  async send(prepared: PreparedRequest, signal?: AbortSignal): Promise<HttpResponse> {
    return this.#lifecycle.track(signal, (abort) => this.#send(prepared, abort));
  }

  /** Stops taking requests and lets those in flight finish; after `graceMs` or `signal`, destroys what is left. Idempotent. */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** Aborts every request in flight (code `closed`) and closes the built Agent's sockets now. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    return this.#lifecycle.destroy(reason);
  }

  async #send(prepared: PreparedRequest, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const { url, method } = prepared;
    // Never the query string in a message: it may hold a key.
    const label = `${method} ${url.origin}${url.pathname}`;
    if (!this.#owned) await this.#checkResolved(prepared, label);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: method as Dispatcher.HttpMethod,
        headers: prepared.headers,
        body: prepared.body,
        signal,
        headersTimeout: this.#headersTimeoutMs,
        bodyTimeout: this.#bodyTimeoutMs,
      });
    } catch (error) {
      throw attemptError(error, method, label, signal);
    }
    const { statusCode, headers, body } = response;
    if (statusCode >= 400) {
      // Read a little (the start of it goes in the message) so the connection can be reused; destroy anything bigger.
      throw statusError(statusCode, headers, method, label, await errorExcerpt(body, headers, requestSecrets(url, prepared.headers)));
    }
    try {
      const { value, bytes } = await readBody(body, headers, prepared.maxBodyBytes, prepared.responseType, label);
      return { url: url.href, status: statusCode, headers, body: value, bytes };
    } catch (error) {
      throw attemptError(error, method, label, signal);
    }
  }

  /** With a dispatcher we did not build, its connector skips our lookup: resolve and check first. */
  async #checkResolved(prepared: PreparedRequest, label: string): Promise<void> {
    const host = prepared.url.hostname.replace(/^\[|\]$/g, '');
    try {
      await this.#guard.resolve(host);
    } catch (error) {
      if (error instanceof McpConcurrencyError) throw error;
      throw attemptError(error, prepared.method, label, undefined);
    }
  }
}
