/** `ConcurrencyLimiter`: the reference `Limiter`, a FIFO counting semaphore. */
import { abortReason } from './abort.js';
import { McpConcurrencyError } from './errors.js';
import type { AcquireOptions, Limiter, Permit } from './types.js';
import { checkPositive, checkPositiveInteger, checkSignal } from './validate.js';
import { WaiterQueue } from './waiter-queue.js';

/**
 * A counting semaphore: at most `limit` units in use at once. FIFO, so a large request is not
 * starved by small ones; an aborted waiter leaves the queue at once. The reference `Limiter`.
 *
 * @example
 * const db = new ConcurrencyLimiter(10);
 * const permit = await db.acquire({ signal });
 * try { await query(); } finally { permit.release(); }
 */
export class ConcurrencyLimiter implements Limiter {
  #limit: number;
  #inUse = 0;
  // An aborted head may have been what blocked the waiters behind it.
  readonly #waiters = new WaiterQueue<Permit>(() => this.#drain());

  constructor(limit: number) {
    this.#limit = checkPositiveInteger('limit', limit, true);
  }

  get limit(): number {
    return this.#limit;
  }
  /** Units held now. */
  get inUse(): number {
    return this.#inUse;
  }
  /** Acquires waiting now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Changes the limit at run time; waiters that now fit are admitted at once. */
  setLimit(limit: number): void {
    this.#limit = checkPositiveInteger('limit', limit, true);
    this.#drain();
  }

  /** Takes `cost` units now, or returns undefined; never waits. @throws `invalid_argument` for a bad cost. */
  tryAcquire(options?: { readonly cost?: number }): Permit | undefined {
    const cost = this.#cost(options?.cost);
    if (this.#waiters.size > 0 || this.#inUse + cost > this.#limit) return undefined;
    this.#inUse += cost;
    return this.#permit(cost);
  }

  /** Waits for `cost` units (default 1). Rejects, never throws: `invalid_argument` for a bad cost or signal, `signal.reason` on abort. */
  acquire(options?: AcquireOptions): Promise<Permit> {
    let cost: number;
    const signal = options?.signal;
    try {
      cost = this.#cost(options?.cost);
      checkSignal('signal', signal);
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#waiters.size === 0 && this.#inUse + cost <= this.#limit) {
      this.#inUse += cost;
      return Promise.resolve(this.#permit(cost));
    }
    return this.#waiters.wait(cost, signal);
  }

  #cost(cost: number | undefined): number {
    if (cost === undefined) return 1;
    checkPositive('cost', cost);
    if (cost > this.#limit) {
      throw new McpConcurrencyError(
        'invalid_argument',
        `Expected \`cost\` to be at most the limit (${this.#limit}), got \`${cost}\`: it could never be admitted`,
      );
    }
    return cost;
  }

  #permit(cost: number): Permit {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#inUse -= cost;
        this.#drain();
      },
    };
  }

  #drain(): void {
    let cost = this.#waiters.headCost;
    while (cost !== undefined && this.#inUse + cost <= this.#limit) {
      this.#inUse += cost;
      this.#waiters.grantHead(this.#permit(cost));
      cost = this.#waiters.headCost;
    }
  }
}
