import { randomUUID } from 'node:crypto';
import {
  checkNonEmptyString,
  checkPositive,
  checkPositiveInteger,
  checkSignal,
  invalidArgument,
  McpConcurrencyError,
  type AcquireOptions,
  type Limiter,
  type Permit,
} from '@mcp-concurrency/core-scheduler';
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
export class RedisSemaphore implements Limiter {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #limit: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #queue: RemoteWaitQueue;
  readonly #held = new Set<ReturnType<typeof setInterval>>();

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

  acquire(options?: AcquireOptions): Promise<Permit> {
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

  /** Stops renewing every lease this process holds and releases them. */
  async close(): Promise<void> {
    this.#queue.rejectAll(new McpConcurrencyError('closed', 'The semaphore was closed while this acquire waited'));
    for (const timer of this.#held) clearInterval(timer);
    this.#held.clear();
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
    this.#held.add(renew);
    let released = false;
    return {
      permit: {
        release: () => {
          if (released) return;
          released = true;
          clearInterval(renew);
          this.#held.delete(renew);
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
