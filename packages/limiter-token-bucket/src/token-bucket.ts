import {
  McpConcurrencyError,
  type AcquireOptions,
  type Clock,
  type CloseOptions,
  type Lifecycle,
  type Limiter,
  type Permit,
} from '@mcp-concurrency/core-scheduler';
import {
  abortReason,
  checkNonNegative,
  checkPositive,
  checkSignal,
  closedError,
  invalidArgument,
  LifecycleState,
  WaiterQueue,
} from '@mcp-concurrency/core-scheduler/plugin';

export interface TokenBucketOptions {
  /** Tokens added per second. @example 50 */
  readonly rate: number;
  /** Bucket size: the most tokens that can be taken at once after idling. @default rate (one second's worth), at least 1 */
  readonly burst?: number;
  /** A waiter whose turn would come later than this many ms is refused at once with `rate_limited` and `retryAfterMs`. @default Infinity */
  readonly maxWaitMs?: number;
  /** Start with a full bucket. @default true */
  readonly startFull?: boolean;
  /** A monotonic millisecond clock. @default performance.now */
  readonly clock?: Clock;
}

export interface TokenBucketAcquireOptions extends AcquireOptions {
  /** Overrides the bucket's `maxWaitMs` for this wait. */
  readonly maxWaitMs?: number;
}

/** A rate permit: tokens are spent, there is nothing to give back. */
const RATE_PERMIT: Permit = Object.freeze({ release() {} });

/**
 * An exact in-process token bucket: in any interval of length t it grants at most
 * `burst + rate * t` tokens. Waiters are served FIFO (a large cost is not starved by small ones)
 * by one timer for the head of the queue; an aborted waiter leaves at once and takes nothing.
 *
 * @example
 * const apiCalls = new TokenBucket({ rate: 10, burst: 10 });
 * await apiCalls.acquire({ signal });
 */
export class TokenBucket implements Limiter, Lifecycle {
  #rate: number;
  #burst: number;
  #maxWaitMs: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;
  // An aborted head may have been what the timer waited for: grant or re-time for the new head.
  readonly #waiters = new WaiterQueue<Permit>((wasHead) => {
    if (wasHead) this.#schedule(this.#clock.now());
    this.#checkIdle();
  });
  #timer: ReturnType<typeof setTimeout> | undefined;
  #granted = 0;
  /** Resolves `close()`'s wait once no acquire waits any more. */
  #onIdle: (() => void) | undefined;
  readonly #lifecycle = new LifecycleState({
    idle: () => (this.#waiters.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#onIdle = resolve))),
    abort: (reason) => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const error = new McpConcurrencyError('closed', 'The token bucket was destroyed while this acquire waited', reason === undefined ? {} : { cause: reason });
      this.#waiters.rejectAll(error);
      this.#checkIdle();
    },
  });

  constructor(options: TokenBucketOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    this.#rate = checkPositive('rate', options.rate);
    this.#burst = options.burst === undefined ? Math.max(1, this.#rate) : checkPositive('burst', options.burst);
    this.#maxWaitMs = options.maxWaitMs === undefined ? Infinity : checkNonNegative('maxWaitMs', options.maxWaitMs, true);
    if (options.clock !== undefined && typeof options.clock.now !== 'function') {
      throw invalidArgument('clock', 'an object with a now() method', options.clock);
    }
    this.#clock = options.clock ?? { now: () => performance.now() };
    this.#tokens = options.startFull === false ? 0 : this.#burst;
    this.#last = this.#clock.now();
  }

  get rate(): number {
    return this.#rate;
  }
  get burst(): number {
    return this.#burst;
  }
  /** Tokens in the bucket now (fractional). */
  get available(): number {
    this.#refill(this.#clock.now());
    return this.#tokens;
  }
  get waiting(): number {
    return this.#waiters.size;
  }
  /** Tokens granted since creation. */
  get granted(): number {
    return this.#granted;
  }

  /** Changes the rate (and burst) at run time, e.g. when a server's 429 says the real budget is lower. */
  setRate(rate: number, burst = this.#burst): void {
    const now = this.#clock.now();
    this.#refill(now);
    this.#rate = checkPositive('rate', rate);
    this.#burst = checkPositive('burst', burst);
    this.#tokens = Math.min(this.#tokens, this.#burst);
    this.#schedule(now);
  }

  /**
   * Grants nothing for `retryAfterMs`: the bucket goes into debt by that much refill, so waiters and
   * new acquires both wait (a 429 with `Retry-After` told us the real budget).
   */
  throttle(retryAfterMs: number): void {
    const now = this.#clock.now();
    this.#refill(now);
    this.#tokens = Math.min(this.#tokens, -(checkPositive('retryAfterMs', retryAfterMs) * this.#rate) / 1000);
    this.#schedule(now);
  }

  /** Takes `cost` tokens now, or returns undefined (also once closed); never waits. @throws `invalid_argument` for a bad cost. */
  tryAcquire(options?: { readonly cost?: number }): Permit | undefined {
    const cost = this.#cost(options?.cost);
    if (this.#waiters.size > 0 || this.#lifecycle.closed) return undefined;
    this.#refill(this.#clock.now());
    if (this.#tokens < cost) return undefined;
    this.#take(cost);
    return RATE_PERMIT;
  }

  /**
   * Waits for `cost` tokens (FIFO). Rejects, never throws: `invalid_argument` for a bad cost or signal,
   * `rate_limited` (with `retryAfterMs`) when the wait would pass `maxWaitMs`, `closed` after `close()`,
   * `signal.reason` on abort.
   */
  acquire(options?: TokenBucketAcquireOptions): Promise<Permit> {
    if (this.#lifecycle.closed) return Promise.reject(closedError('The token bucket'));
    let cost: number;
    try {
      cost = this.#cost(options?.cost);
      checkSignal('signal', options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const now = this.#clock.now();
    this.#refill(now);
    if (this.#waiters.size === 0 && this.#tokens >= cost) {
      this.#take(cost);
      return Promise.resolve(RATE_PERMIT);
    }
    // When would this waiter's turn come? Refuse now rather than time out later.
    const waitMs = ((this.#waiters.cost + cost - this.#tokens) / this.#rate) * 1000;
    const maxWaitMs = options?.maxWaitMs ?? this.#maxWaitMs;
    if (waitMs > maxWaitMs) {
      return Promise.reject(
        new McpConcurrencyError('rate_limited', `Rate limit: the next ${cost} token(s) come in ${Math.ceil(waitMs)} ms, over the ${maxWaitMs} ms wait allowed`, {
          retryAfterMs: Math.ceil(waitMs),
          retryable: true,
        }),
      );
    }
    const first = this.#waiters.size === 0;
    const permit = this.#waiters.wait(cost, signal);
    if (first) this.#schedule(now);
    return permit;
  }

  /**
   * Refuses new acquires (code `closed`) and lets the waiting ones get their tokens as they come; when
   * `graceMs` elapses or `signal` aborts, rejects those still waiting (code `closed`). Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** Rejects every waiter now (code `closed`, `reason` as the cause) and stops the timer. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    return this.#lifecycle.destroy(reason);
  }

  #checkIdle(): void {
    if (this.#onIdle !== undefined && this.#waiters.size === 0) {
      this.#onIdle();
      this.#onIdle = undefined;
    }
  }

  #cost(cost: number | undefined): number {
    if (cost === undefined) return 1;
    checkPositive('cost', cost);
    if (cost > this.#burst) {
      throw new McpConcurrencyError(
        'invalid_argument',
        `Expected \`cost\` to be at most the bucket's burst (${this.#burst}), got \`${cost}\`: it could never be granted`,
      );
    }
    return cost;
  }

  #refill(now: number): void {
    const elapsed = now - this.#last;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
      this.#last = now;
    }
  }

  #take(cost: number): void {
    this.#tokens -= cost;
    this.#granted += cost;
  }

  /** Grants every head that fits, then sets the one timer for the next head. */
  #schedule(now: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#refill(now);
    let cost = this.#waiters.headCost;
    while (cost !== undefined && this.#tokens >= cost) {
      this.#take(cost);
      this.#waiters.grantHead(RATE_PERMIT);
      cost = this.#waiters.headCost;
    }
    if (cost === undefined) {
      this.#checkIdle();
      return;
    }
    // Never early: a timer may fire up to a millisecond before its time, so round up and re-check.
    const waitMs = Math.max(1, Math.ceil(((cost - this.#tokens) / this.#rate) * 1000));
    this.#timer = setTimeout(() => this.#schedule(this.#clock.now()), waitMs);
  }
}
