/**
 * The shared interface. Every package of mcp-concurrency implements or consumes these types,
 * and nothing else from this package's internals.
 */
import type { ErrorCode } from './errors.js';

/** Something that admits work: a concurrency cap, a token bucket, a Redis-backed bucket. */
export interface Limiter {
  /** Wait until `cost` units may be used. Rejects with `signal.reason` when the signal aborts. */
  acquire(options?: AcquireOptions): Promise<Permit>;
  /**
   * Take `cost` units now or return `undefined`; never waits. Optional: the scheduler uses it to
   * start a call without a promise round trip when the limiter has room.
   */
  tryAcquire?(options?: { readonly cost?: number }): Permit | undefined;
  /**
   * The service behind the limiter said "slow down" (HTTP 429, `Retry-After`): grant nothing more for
   * `retryAfterMs`. Optional: a rate limiter should implement it, a concurrency cap need not.
   */
  throttle?(retryAfterMs: number): void;
}

export interface AcquireOptions {
  /** Units to take. @default 1 */
  readonly cost?: number;
  /** Stops the wait: the waiter leaves the queue at once and takes nothing. */
  readonly signal?: AbortSignal;
}

/** What a limiter hands out. A rate permit's `release()` does nothing; a concurrency permit's frees the slot. */
export interface Permit {
  release(): void;
}

/** What a tool sees while it runs. */
export interface ToolContext {
  /** Aborts on run timeout, on the caller's cancellation and on `destroy()`. Honour it. */
  readonly signal: AbortSignal;
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
  readonly callId: string;
}

/** A tool the scheduler can run. Sync or async; it must honour `ctx.signal`. */
export interface Tool<P = unknown, R = unknown> {
  readonly name: string;
  run(params: P, ctx: ToolContext): R | Promise<R>;
  /** Limits and deadlines for this tool; the scheduler's `tools` option or `setToolPolicy()` override them. */
  readonly policy?: ToolPolicy;
}

/** Per-tool limits and deadlines. */
export interface ToolPolicy {
  /** Calls of this tool running at once. @default unlimited (only the global cap applies) */
  readonly maxParallel?: number;
  /** Names of limiters (given to the scheduler's `limiters`) every call of this tool acquires before it starts. @example ['default', 'api_calls'] */
  readonly limiters?: readonly string[];
  /** Units each call takes from its limiters. @default 1 */
  readonly cost?: number;
  /** Run deadline per attempt, in ms; it aborts the tool's signal. @default none */
  readonly timeoutMs?: number;
  /** How long a call may wait in the queue before it settles as `timeout` (code `queue_timeout`). @default none */
  readonly queueTimeoutMs?: number;
  /** Retries for errors the tool marks retryable (see `RetryPolicy`). A number is `{ retries: n }`. @default no retries */
  readonly retry?: RetryPolicy | number;
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
  /**
   * The first retry's backoff ceiling in ms, not a floor: backoff is "full jitter", so the n-th retry waits a
   * random time in [0, min(maxDelayMs, minDelayMs * factor^(n-1))], never less than the failure's own
   * `retryAfterMs` (a limiter's refusal, an HTTP `Retry-After`). @default 100
   */
  readonly minDelayMs?: number;
  /** The largest ceiling in ms: no jittered wait goes over it (a longer `retryAfterMs` still wins). @default 10_000 */
  readonly maxDelayMs?: number;
  /** How much the ceiling grows per retry. @default 2 */
  readonly factor?: number;
  /** Which failures are retried. @default the error has `retryable: true` */
  readonly retryOn?: (error: unknown, attempt: number) => boolean;
}

/** One request to run a tool. */
export interface ToolCall<P = unknown> {
  /** Unique within a batch or graph; optional for `run()` (the scheduler numbers calls without one). */
  readonly id?: string;
  readonly tool: string;
  readonly params?: P;
  /** Higher runs first; FIFO within a priority. @default 0 */
  readonly priority?: number;
  /** Ids of calls (in the same graph) that must settle before this one starts. */
  readonly dependsOn?: readonly string[];
  /** Run even when a dependency did not settle `ok`. @default false */
  readonly runOnFailedDependency?: boolean;
  /** Builds the params from the dependencies' results (by id); `params` is ignored when this is set. */
  readonly paramsFrom?: (dependencies: Readonly<Record<string, ToolResult>>) => P;
  /** Overrides the tool's run deadline for this call. */
  readonly timeoutMs?: number;
  /** Overrides the tool's queue deadline for this call. */
  readonly queueTimeoutMs?: number;
}

export type ToolStatus = 'ok' | 'error' | 'timeout' | 'cancelled' | 'skipped' | 'rejected';

export interface ToolErrorInfo {
  readonly code: ErrorCode;
  readonly message: string;
  /** The failure may pass if the call is tried again (a 503, a reset connection); absent when not known to be. */
  readonly retryable?: boolean;
  /** How long to wait before trying again, in ms, when known (a limit's refusal, an HTTP `Retry-After`). */
  readonly retryAfterMs?: number;
}

/** One settled outcome; every call gets exactly one. */
export interface ToolResult<R = unknown> {
  readonly id: string;
  readonly tool: string;
  readonly status: ToolStatus;
  readonly value?: R;
  readonly error?: ToolErrorInfo;
  /** From submission to the first start (or to settlement when it never started). */
  readonly queuedMs: number;
  /** From the first start to settlement, retry waits included. */
  readonly runMs: number;
  readonly attempts: number;
}

/** What metrics, logs and traces plug into. Every hook is optional; none attached costs nothing. */
export interface SchedulerObserver {
  onQueued?(call: ToolCall): void;
  onStart?(call: ToolCall, waitedMs: number, attempt: number): void;
  /**
   * `call` is the object `onQueued` saw (the same reference), so an observer can pair the two; for
   * a call refused before it was queued it is the call as given, and `undefined` when that was not an object.
   */
  onSettled?(result: ToolResult, call?: ToolCall): void;
  /** `call` is the call that waited (the object `onQueued` saw). */
  onLimiterWait?(limiter: string, waitedMs: number, call?: ToolCall): void;
  onRetry?(call: ToolCall, attempt: number, delayMs: number, error: ToolErrorInfo): void;
}

/** A monotonic clock in milliseconds. @default performance.now */
export interface Clock {
  now(): number;
}

/** How `close()` lets in-flight work end. */
export interface CloseOptions {
  /**
   * How long in-flight work may go on, in ms, before what is left is destroyed (its signals aborted,
   * its calls settled with code `closed`). @default Infinity (wait for all of it) @example { graceMs: 5_000 }
   */
  readonly graceMs?: number;
  /** Aborting it ends the grace at once: what is left is destroyed. */
  readonly signal?: AbortSignal;
}

/**
 * The lifecycle every resource of the project has (the scheduler, limiters, pools, the metrics server),
 * after undici's `close()` / `destroy()`:
 * - `close(options?)` stops taking work and lets in-flight work finish; when `graceMs` elapses or
 *   `signal` aborts, it destroys what is left. Resolves when everything has ended.
 * - `destroy(reason?)` stops now: in-flight work is aborted (with `reason` when given).
 *
 * Both are idempotent (every call returns the same settled outcome) and awaitable. Work submitted after
 * `close()` settles or rejects with code `closed`.
 */
export interface Lifecycle {
  close(options?: CloseOptions): Promise<void>;
  destroy(reason?: unknown): Promise<void>;
}
