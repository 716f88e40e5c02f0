import {
  McpConcurrencyError,
  Scheduler,
  type Limiter,
  type RetryPolicy,
  type SchedulerObserver,
  type ToolCall,
  type ToolContext,
  type ToolResult,
} from '@mcp-concurrency/core-scheduler';
import {
  checkNonNegativeInteger,
  checkPositive,
  checkPositiveInteger,
  describeThrown,
  invalidArgument,
} from '@mcp-concurrency/core-scheduler/plugin';
import { HttpClient, type HttpClientOptions, type HttpRequest as ClientRequest, type PreparedRequest } from './http-client.js';
import type { CloseOptions } from './lifecycle.js';
import { OriginLimits } from './origin-limits.js';
import type { HttpResponse } from './response.js';
import { throttleOnRetryAfter } from './throttle.js';

/** Distinct origins that get a lane of their own; more share one, so a model cannot grow state without bound. */
const MAX_ORIGIN_LANES = 1_000;
const SHARED_LANE = 'http (other origins)';

export interface HttpPoolOptions extends HttpClientOptions {
  /** The client to send with (shared with other pools or tools); the options above then build nothing. @default a client built from the options */
  readonly client?: HttpClient;
  /** Requests running at once, across origins. @default 50 */
  readonly maxParallel?: number;
  /** Requests running at once per origin. @default `connections` (10) */
  readonly maxPerOrigin?: number;
  /** Rate limiters by origin (`https://api.example.com`); a 429 or 503 with `Retry-After` throttles its limiter. */
  readonly rateLimits?: Readonly<Record<string, Limiter>>;
  /** The whole call, in ms: queue wait, every attempt and retry waits. @default 60_000 */
  readonly timeoutMs?: number;
  /** Retries for idempotent methods on 429, 502, 503, 504 and connection resets, honouring `Retry-After`. @default 2 */
  readonly retry?: number | Omit<RetryPolicy, 'retryOn'>;
  /** Scheduler observers (metrics). */
  readonly observers?: readonly SchedulerObserver[];
}

export interface HttpRequest extends ClientRequest {
  /** Overrides the pool's whole-call deadline, in ms. */
  readonly timeoutMs?: number;
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

/**
 * For library users: many URLs at once as a `Scheduler` (global cap, the per-origin `OriginLimits`,
 * retries with `Retry-After`, one deadline per call that includes queue time) running an `HttpClient`.
 * `fetchAll()` gives one `ToolResult` per request, in input order. Inside an MCP server, use
 * `httpTool()` under that server's scheduler instead.
 *
 * @example
 * const http = new HttpPool({ maxParallel: 20, rateLimits: { 'https://api.github.com': new TokenBucket({ rate: 10 }) } });
 * const results = await http.fetchAll(urls, { signal });
 */
export class HttpPool {
  readonly client: HttpClient;
  readonly #ownsClient: boolean;
  readonly #scheduler: Scheduler;
  readonly #limits: OriginLimits;
  readonly #lanes = new Map<string, string>();
  readonly #registered = new Set<string>();
  readonly #retry: RetryPolicy | undefined;
  readonly #timeoutMs: number;

  constructor(options: HttpPoolOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    const connections = options.connections === undefined ? 10 : checkPositiveInteger('connections', options.connections);
    this.#timeoutMs = options.timeoutMs === undefined ? 60_000 : checkPositive('timeoutMs', options.timeoutMs);
    const retry = options.retry ?? 2;
    this.#retry = typeof retry === 'number' ? (checkNonNegativeInteger('retry', retry) === 0 ? undefined : { retries: retry }) : retry;
    this.#limits = new OriginLimits({ maxPerOrigin: options.maxPerOrigin ?? connections, rateLimits: options.rateLimits });
    this.#ownsClient = options.client === undefined;
    this.client = options.client ?? new HttpClient(options);
    this.#scheduler = new Scheduler({
      maxParallel: options.maxParallel === undefined ? 50 : checkPositiveInteger('maxParallel', options.maxParallel),
      observers: options.observers,
    });
  }

  /** Per-origin pool counts and the scheduler's, for metrics. */
  stats(): HttpPoolStats {
    return { origins: this.client.stats, running: this.#scheduler.running, queued: this.#scheduler.queued };
  }

  /** One request with the pool's limits and retries; resolves with the response or rejects with a coded error (`retryable`, `retryAfterMs` kept). */
  async request<B = unknown>(request: HttpRequest | string, options: FetchOptions = {}): Promise<HttpResponse<B>> {
    const [result] = await this.fetchAll([request], options);
    if (result!.status === 'ok') return result!.value as HttpResponse<B>;
    const { code, message, retryable, retryAfterMs } = result!.error!;
    throw new McpConcurrencyError(code, message, { retryable, retryAfterMs });
  }

  /** Many requests at once under every limit; one result per request, in input order. */
  async fetchAll(requests: readonly (HttpRequest | string)[], options: FetchOptions = {}): Promise<ToolResult<HttpResponse>[]> {
    if (!Array.isArray(requests)) throw invalidArgument('requests', 'an array of URLs or requests', requests);
    const results = new Array<ToolResult<HttpResponse>>(requests.length);
    // Requests submitted together with the same timeout share one deadline: one timer and one batch
    // (one abort listener) per distinct timeout, not one each.
    const groups = new Map<number, { calls: ToolCall[]; indexes: number[] }>();
    requests.forEach((request, i) => {
      const id = String(i);
      let prepared: PreparedRequest;
      let timeoutMs: number;
      try {
        prepared = this.client.prepare(request);
        const ms = typeof request === 'string' ? undefined : request.timeoutMs;
        timeoutMs = ms === undefined ? this.#timeoutMs : checkPositive('timeoutMs', ms);
      } catch (error) {
        const info = error instanceof McpConcurrencyError ? error : new McpConcurrencyError('invalid_argument', describeThrown(error));
        results[i] = { id, tool: 'http', status: 'rejected', error: { code: info.code, message: info.message }, queuedMs: 0, runMs: 0, attempts: 0 };
        return;
      }
      let group = groups.get(timeoutMs);
      if (group === undefined) groups.set(timeoutMs, (group = { calls: [], indexes: [] }));
      const priority = typeof request === 'string' ? undefined : request.priority;
      group.calls.push({ id, tool: this.#laneFor(prepared.url.origin), params: prepared, priority });
      group.indexes.push(i);
    });
    await Promise.all(
      [...groups].map(async ([ms, { calls, indexes }]) => {
        const controller = new AbortController();
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

  /** Stops taking requests and lets those in flight finish (up to `graceMs`), then closes the client it built. Idempotent. */
  async close(options: CloseOptions = {}): Promise<void> {
    const closing = this.#scheduler.close({ graceMs: options.graceMs });
    const onAbort = (): void => void this.#scheduler.destroy(options.signal?.reason);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await closing;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    if (this.#ownsClient) await this.client.close(options);
  }

  /** Aborts everything now and destroys the client it built. Idempotent. */
  async destroy(reason?: unknown): Promise<void> {
    await this.#scheduler.destroy(reason);
    if (this.#ownsClient) await this.client.destroy(reason);
  }

  /**
   * Each origin is a tool of its own in the pool's scheduler: the tool's `maxParallel` is the origin's cap
   * (the scheduler's native per-tool count, cheaper than acquiring a limiter) and it acquires the origin's
   * rate limiter, so no origin holds up another. Past `maxOrigins`, origins share one lane.
   */
  #laneFor(origin: string): string {
    let name = this.#lanes.get(origin);
    if (name !== undefined) return name;
    // An origin with a configured rate limit always gets its own lane: the developer named it.
    if (this.#lanes.size >= MAX_ORIGIN_LANES && this.#limits.rateLimitFor(origin) === undefined) name = SHARED_LANE;
    else {
      name = `http ${origin}`;
      this.#lanes.set(origin, name);
    }
    if (this.#registered.has(name)) return name;
    this.#registered.add(name);
    const rate = name === SHARED_LANE ? undefined : this.#limits.rateLimitFor(origin);
    if (rate !== undefined) this.#scheduler.setLimiter(`http rate ${origin}`, rate);
    const run = (prepared: PreparedRequest, ctx: ToolContext): Promise<HttpResponse> => this.client.send(prepared, ctx.signal);
    this.#scheduler.register(
      { name, run: rate === undefined ? run : throttleOnRetryAfter(run, () => [rate]) },
      { maxParallel: this.#limits.maxPerOrigin, limiters: rate === undefined ? [] : [`http rate ${origin}`], retry: this.#retry },
    );
    return name;
  }
}
