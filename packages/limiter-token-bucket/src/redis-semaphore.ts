import { randomUUID } from 'node:crypto';
import { McpConcurrencyError, type AcquireOptions, type CloseOptions, type Lifecycle, type Limiter, type Permit } from '@mcp-concurrency/core-scheduler';
import {
  checkNonEmptyString,
  checkPositive,
  checkPositiveInteger,
  checkSignal,
  closedError,
  invalidArgument,
  LifecycleState,
} from '@mcp-concurrency/core-scheduler/plugin';
import type { Redis } from 'ioredis';
import { SEMAPHORE_SCRIPT } from './lua.js';
import { evalScript, withTimeout } from './redis-script.js';
import { RemoteWaitQueue, type Attempt } from './remote-queue.js';

export interface RedisSemaphoreOptions {
  /** An ioredis client you own. */
  readonly redis: Redis;
  /** The semaphore's name; the Redis key is `prefix + key`. */
  readonly key: string;
  /** Units held at once across every process. */
  readonly limit: number;
  /** How long a holder's slot lasts without renewal; a crashed process frees its slots after this. @default 10_000 */
  readonly leaseMs?: number;
  /** How often while waiting the head of the local queue asks again (slots freed by other processes are not announced). @default 25 */
  readonly pollMs?: number;
  /** @default 'mcpc:sem:' */
  readonly prefix?: string;
  /** @default 250 */
  readonly timeoutMs?: number;
}

/**
 * A concurrency `Limiter` shared by many processes: at most `limit` units held at once. Each slot is
 * a lease in a Redis sorted set, renewed while held; a process that dies stops renewing and its
 * slots expire. Redis failures reject with `limiter_unavailable` (a semaphore cannot fail open
 * safely).
 */
export class RedisSemaphore implements Limiter, Lifecycle {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #limit: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #queue: RemoteWaitQueue;
  /** The leases this process holds, by lease id. */
  readonly #held = new Map<string, { readonly renew: ReturnType<typeof setInterval>; readonly cost: number }>();
  /** Resolves `close()`'s wait once every lease is released. */
  #onReleased: (() => void) | undefined;
  readonly #lifecycle = new LifecycleState({
    idle: async () => {
      await this.#queue.idle();
      if (this.#held.size > 0) await new Promise<void>((resolve) => (this.#onReleased = resolve));
    },
    abort: async (reason) => {
      const cause = reason === undefined ? {} : { cause: reason };
      this.#queue.rejectAll(new McpConcurrencyError('closed', 'The semaphore was destroyed while this acquire waited', cause));
      const held = [...this.#held];
      this.#held.clear();
      for (const [, lease] of held) clearInterval(lease.renew);
      // Given back now rather than left to expire, so other processes need not wait out the lease.
      await Promise.allSettled(held.map(([id, lease]) => this.#run(id, 'release', lease.cost)));
    },
  });

  constructor(options: RedisSemaphoreOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    if (typeof options.redis?.evalsha !== 'function') throw invalidArgument('redis', 'an ioredis client', options.redis);
    this.#redis = options.redis;
    this.#key = (options.prefix ?? 'mcpc:sem:') + checkNonEmptyString('key', options.key);
    this.#limit = checkPositiveInteger('limit', options.limit);
    this.#leaseMs = options.leaseMs === undefined ? 10_000 : checkPositive('leaseMs', options.leaseMs);
    this.#pollMs = options.pollMs === undefined ? 25 : checkPositive('pollMs', options.pollMs);
    this.#timeoutMs = options.timeoutMs === undefined ? 250 : checkPositive('timeoutMs', options.timeoutMs);
    this.#queue = new RemoteWaitQueue((cost) => this.#try(cost));
  }

  get waiting(): number {
    return this.#queue.waiting;
  }

  /** Slots held by this process now. */
  get held(): number {
    return this.#held.size;
  }

  /**
   * Waits for `cost` slots. Rejects, never throws: `invalid_argument`, `limiter_unavailable` (Redis did
   * not answer), `closed` after `close()`, `signal.reason` on abort.
   */
  acquire(options?: AcquireOptions): Promise<Permit> {
    if (this.#lifecycle.closed) return Promise.reject(closedError('The semaphore'));
    const cost = options?.cost ?? 1;
    try {
      checkPositiveInteger('cost', cost);
      checkSignal('signal', options?.signal);
      if (cost > this.#limit) throw invalidArgument('cost', `at most the limit (${this.#limit})`, cost);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#queue.acquire(cost, options?.signal, Infinity);
  }

  /**
   * Refuses new acquires (code `closed`); waiting ones may still get their slots, and holders release
   * them as usual. When `graceMs` elapses or `signal` aborts, does what `destroy()` does. Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** Rejects every waiter (code `closed`), stops renewing and releases in Redis every lease this process holds. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    return this.#lifecycle.destroy(reason);
  }

  #run(id: string, mode: 'acquire' | 'renew' | 'release', cost: number): Promise<[number, number]> {
    return withTimeout(
      evalScript(this.#redis, SEMAPHORE_SCRIPT, [this.#key], [this.#limit, this.#leaseMs, id, mode, cost]),
      this.#timeoutMs,
    ) as Promise<[number, number]>;
  }

  async #try(cost: number): Promise<Attempt> {
    const id = randomUUID();
    const [ok, soonestMs] = await this.#run(id, 'acquire', cost);
    if (ok !== 1) return { retryAfterMs: Math.max(1, Math.min(this.#pollMs, soonestMs)) };
    const renew = setInterval(() => {
      this.#run(id, 'renew', cost).catch(() => {
        // A missed renewal is retried on the next tick; the lease covers two more.
      });
    }, this.#leaseMs / 3);
    renew.unref();
    this.#held.set(id, { renew, cost });
    let released = false;
    return {
      permit: {
        release: () => {
          if (released) return;
          released = true;
          clearInterval(renew);
          this.#held.delete(id);
          if (this.#held.size === 0) this.#onReleased?.();
          // If this fails the lease still expires on its own.
          this.#run(id, 'release', cost).then(
            () => this.#queue.poke(),
            () => {},
          );
        },
      },
    };
  }
}
