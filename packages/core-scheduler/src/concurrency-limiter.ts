import { abortReason } from './abort.js';
import { McpConcurrencyError } from './errors.js';
import type { AcquireOptions, Limiter, Permit } from './types.js';
import { checkPositive, checkPositiveInteger, checkSignal } from './validate.js';

interface Waiter {
  readonly cost: number;
  readonly resolve: (permit: Permit) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  next: Waiter | undefined;
  prev: Waiter | undefined;
}

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
  #head: Waiter | undefined;
  #tail: Waiter | undefined;
  #waiting = 0;

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
    return this.#waiting;
  }

  /** Changes the limit at run time; waiters that now fit are admitted at once. */
  setLimit(limit: number): void {
    this.#limit = checkPositiveInteger('limit', limit, true);
    this.#drain();
  }

  tryAcquire(options?: { readonly cost?: number }): Permit | undefined {
    const cost = this.#cost(options?.cost);
    if (this.#head !== undefined || this.#inUse + cost > this.#limit) return undefined;
    this.#inUse += cost;
    return this.#permit(cost);
  }

  acquire(options?: AcquireOptions): Promise<Permit> {
    const cost = this.#cost(options?.cost);
    const signal = options?.signal;
    checkSignal('signal', signal);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#head === undefined && this.#inUse + cost <= this.#limit) {
      this.#inUse += cost;
      return Promise.resolve(this.#permit(cost));
    }
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = { cost, resolve, reject, signal, onAbort: undefined, next: undefined, prev: this.#tail };
      if (this.#tail === undefined) this.#head = waiter;
      else this.#tail.next = waiter;
      this.#tail = waiter;
      this.#waiting++;
      if (signal !== undefined) {
        waiter.onAbort = () => {
          this.#unlink(waiter);
          reject(abortReason(signal));
          // The head may have been the one blocking the rest.
          this.#drain();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
    });
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

  #unlink(waiter: Waiter): void {
    if (waiter.prev === undefined) this.#head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.#tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.next = waiter.prev = undefined;
    this.#waiting--;
  }

  #drain(): void {
    let waiter = this.#head;
    while (waiter !== undefined && this.#inUse + waiter.cost <= this.#limit) {
      this.#unlink(waiter);
      if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort);
      this.#inUse += waiter.cost;
      waiter.resolve(this.#permit(waiter.cost));
      waiter = this.#head;
    }
  }
}
