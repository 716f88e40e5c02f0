import { McpConcurrencyError, type Permit } from '@mcp-concurrency/core-scheduler';
import { abortReason } from '@mcp-concurrency/core-scheduler/plugin';

/** One try at a remote limiter: a permit, or how long until it is worth asking again. */
export type Attempt = { readonly permit: Permit } | { readonly retryAfterMs: number };

interface Waiter {
  readonly cost: number;
  readonly deadline: number;
  readonly maxWaitMs: number;
  readonly resolve: (permit: Permit) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Local FIFO waiting for a remote (Redis) limiter: only the head of the queue asks the server, and
 * between asks it sleeps for the time the server said (plus a little jitter so processes do not ask
 * in lockstep). It never polls in a loop; an aborted waiter leaves at once.
 */
export class RemoteWaitQueue {
  readonly #waiters: Waiter[] = [];
  #pumping = false;
  #wake: (() => void) | undefined;
  #onIdle: (() => void)[] = [];

  constructor(
    private readonly attempt: (cost: number) => Promise<Attempt>,
    private readonly random: () => number = Math.random,
  ) {}

  get waiting(): number {
    return this.#waiters.length;
  }

  acquire(cost: number, signal: AbortSignal | undefined, maxWaitMs: number): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = { cost, deadline: performance.now() + maxWaitMs, maxWaitMs, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(abortReason(signal));
          if (index === 0) this.#wake?.();
          this.#checkIdle();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      if (!this.#pumping) void this.#pump();
    });
  }

  /** Resolves once no acquire waits (at once when none does). */
  idle(): Promise<void> {
    if (this.#waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onIdle.push(resolve));
  }

  /** Asks again now instead of after the current sleep (a slot was freed here). */
  poke(): void {
    this.#wake?.();
  }

  /** Rejects every waiter with `error`. */
  rejectAll(error: McpConcurrencyError): void {
    for (const waiter of this.#waiters.splice(0)) this.#settle(waiter, undefined, error);
    this.#wake?.();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#waiters.length > 0) {
        const head = this.#waiters[0]!;
        let result: Attempt;
        try {
          result = await this.attempt(head.cost);
        } catch (error) {
          if (this.#waiters[0] === head) this.#waiters.shift();
          this.#settle(head, undefined, error);
          continue;
        }
        if (this.#waiters[0] !== head) {
          // The head was aborted while its ask was in flight; a permit it got goes back.
          if ('permit' in result) result.permit.release();
          continue;
        }
        if ('permit' in result) {
          this.#waiters.shift();
          this.#settle(head, result.permit, undefined);
          continue;
        }
        const now = performance.now();
        if (now + result.retryAfterMs > head.deadline) {
          this.#waiters.shift();
          this.#settle(head, undefined, new McpConcurrencyError('rate_limited', `Rate limit: no permit within the ${head.maxWaitMs} ms wait allowed; the next comes in ${Math.ceil(result.retryAfterMs)} ms`, {
            retryAfterMs: Math.ceil(result.retryAfterMs),
            retryable: true,
          }));
          continue;
        }
        const jitter = this.random() * Math.min(5, result.retryAfterMs * 0.1);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(1, Math.ceil(result.retryAfterMs + jitter)));
          this.#wake = done;
          function done(): void {
            clearTimeout(timer);
            resolve();
          }
        });
        this.#wake = undefined;
      }
    } finally {
      this.#pumping = false;
    }
  }

  #settle(waiter: Waiter, permit: Permit | undefined, error: unknown): void {
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort);
    if (permit !== undefined) waiter.resolve(permit);
    else waiter.reject(error);
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#waiters.length > 0 || this.#onIdle.length === 0) return;
    for (const resolve of this.#onIdle.splice(0)) resolve();
  }
}
