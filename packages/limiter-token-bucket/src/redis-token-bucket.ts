import { McpConcurrencyError, type AcquireOptions, type CloseOptions, type Lifecycle, type Limiter, type Permit } from '@mcp-concurrency/core-scheduler';
import {
  checkNonEmptyString,
  checkPositive,
  checkSignal,
  closedError,
  describeThrown,
  invalidArgument,
  LifecycleState,
} from '@mcp-concurrency/core-scheduler/plugin';
import type { Redis } from 'ioredis';
import { THROTTLE_SCRIPT, TOKEN_BUCKET_SCRIPT } from './lua.js';
import { RemoteWaitQueue, type Attempt } from './remote-queue.js';
import { evalScript, withTimeout } from './redis-script.js';
import { TokenBucket } from './token-bucket.js';

export interface BucketSpec {
  /** The bucket's name; the Redis key is `prefix + key`. @example 'api_calls' */
  readonly key: string;
  /** Tokens per second, shared by every process that uses this key. */
  readonly rate: number;
  /** @default rate, at least 1 */
  readonly burst?: number;
}

/** What to do when Redis does not answer within `timeoutMs`. */
export type UnavailablePolicy = 'fail-closed' | 'fail-open' | 'local';

export interface RedisTokenBucketOptions {
  /** An ioredis client you own (connect, close). */
  readonly redis: Redis;
  /**
   * The buckets every acquire takes from, all or nothing in one script: e.g. a global, a per-tool and a
   * per-tenant bucket. A refusal by one consumes nothing from the others.
   */
  readonly buckets: readonly BucketSpec[];
  /** @default 'mcpc:tb:' */
  readonly prefix?: string;
  /**
   * `fail-closed` rejects with `limiter_unavailable`; `fail-open` allows (counted in `stats.failOpen`);
   * `local` uses in-process buckets at rate / `localShare` and burst / `localShare`, keeping the bound
   * `burst + rate * t` over every window across both switches (see `RedisTokenBucket`).
   * @default 'fail-closed'
   */
  readonly onUnavailable?: UnavailablePolicy;
  /** With `local`: how many processes share the budget, so each takes rate / localShare. @default 1 */
  readonly localShare?: number;
  /** How long one Redis round trip may take before Redis counts as unavailable. @default 250 */
  readonly timeoutMs?: number;
  /** After a failure, how long to apply the policy before asking Redis again. @default 1000 */
  readonly retryIntervalMs?: number;
  /** A waiter whose turn would come later than this is refused with `rate_limited`. @default Infinity */
  readonly maxWaitMs?: number;
  /** Called on every Redis failure (for metrics and logs). */
  readonly onError?: (error: unknown) => void;
  /** @default Math.random */
  readonly random?: () => number;
}

export interface RedisLimiterStats {
  /** Script calls sent to Redis. */
  redisCalls: number;
  /** Permits granted. */
  granted: number;
  /** Redis failures (timeouts, connection errors). */
  errors: number;
  /** Permits allowed without Redis under `fail-open`. */
  failOpen: number;
  /** Permits granted by the local fallback under `local`. */
  localGrants: number;
}

const RATE_PERMIT: Permit = Object.freeze({ release() {} });

/**
 * A token bucket whose state lives in Redis, so many processes share one budget. One Lua script per
 * try updates every bucket atomically, on Redis's own clock (`TIME`), so host clock skew does not
 * matter. Waiting is local: a refused try sleeps the time Redis returned before trying again.
 *
 * Under `onUnavailable: 'local'` each process keeps its share of the bound while Redis is unreachable:
 * - the switch: the local buckets start empty (this process may have just spent the shared burst);
 * - the switch back: the first script call charges the shared buckets with this process's share of
 *   the burst it used (`burst / localShare` less what its local bucket still holds), so a Redis that
 *   refilled (or restarted full) meanwhile does not grant a second burst; and for `retryIntervalMs +
 *   timeoutMs` after it, the local buckets keep gating this process, until every other process has
 *   probed Redis and charged its own share.
 * The bound across processes assumes they all see the outage (Redis down, not slow for one of them).
 *
 * @example
 * const limiter = new RedisTokenBucket({ redis, buckets: [{ key: 'api_calls', rate: 10 }] });
 * const scheduler = new Scheduler({ limiters: { api_calls: limiter } });
 */
export class RedisTokenBucket implements Limiter, Lifecycle {
  readonly #redis: Redis;
  readonly #keys: string[];
  readonly #specs: { rate: number; burst: number; ttlMs: number }[];
  readonly #policy: UnavailablePolicy;
  readonly #timeoutMs: number;
  readonly #retryIntervalMs: number;
  readonly #maxWaitMs: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #queue: RemoteWaitQueue;
  readonly #localShare: number;
  /** The in-process buckets, from the switch to local until the probation after Redis answers again ends. */
  #local: TokenBucket[] | undefined;
  /** Local grants not yet charged to Redis; `#charging` while one script call carries the charge. */
  #chargePending = false;
  #charging = false;
  /** Until then, after the switch back, the local buckets gate this process too. */
  #probationUntil = 0;
  readonly #maxBurst: number;
  #unavailableUntil = 0;
  readonly stats: RedisLimiterStats = { redisCalls: 0, granted: 0, errors: 0, failOpen: 0, localGrants: 0 };
  readonly #lifecycle = new LifecycleState({
    idle: () => this.#queue.idle(),
    abort: (reason) => {
      const cause = reason === undefined ? {} : { cause: reason };
      this.#queue.rejectAll(new McpConcurrencyError('closed', 'The limiter was destroyed while this acquire waited', cause));
    },
    end: async () => {
      await Promise.all((this.#local ?? []).map((bucket) => bucket.destroy()));
    },
  });

  constructor(options: RedisTokenBucketOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    if (typeof options.redis !== 'object' || options.redis === null || typeof options.redis.evalsha !== 'function') {
      throw invalidArgument('redis', 'an ioredis client', options.redis);
    }
    this.#redis = options.redis;
    if (!Array.isArray(options.buckets) || options.buckets.length === 0) {
      throw invalidArgument('buckets', 'a non-empty array of { key, rate, burst? }', options.buckets);
    }
    const prefix = options.prefix ?? 'mcpc:tb:';
    this.#keys = options.buckets.map((b, i) => prefix + checkNonEmptyString(`buckets[${i}].key`, b?.key));
    this.#specs = options.buckets.map((b, i) => {
      const rate = checkPositive(`buckets[${i}].rate`, b.rate);
      const burst = b.burst === undefined ? Math.max(1, rate) : checkPositive(`buckets[${i}].burst`, b.burst);
      // After burst / rate seconds idle the bucket is full, the same as absent: let Redis drop it.
      return { rate, burst, ttlMs: Math.ceil((burst / rate) * 1000) + 1000 };
    });
    this.#maxBurst = Math.min(...this.#specs.map((s) => s.burst));
    const policy = options.onUnavailable ?? 'fail-closed';
    if (!['fail-closed', 'fail-open', 'local'].includes(policy)) {
      throw invalidArgument('onUnavailable', "'fail-closed', 'fail-open' or 'local'", policy);
    }
    this.#policy = policy;
    this.#timeoutMs = options.timeoutMs === undefined ? 250 : checkPositive('timeoutMs', options.timeoutMs);
    this.#retryIntervalMs = options.retryIntervalMs === undefined ? 1000 : checkPositive('retryIntervalMs', options.retryIntervalMs);
    this.#maxWaitMs = options.maxWaitMs === undefined ? Infinity : checkPositive('maxWaitMs', options.maxWaitMs, true);
    this.#onError = options.onError;
    this.#localShare = options.localShare === undefined ? 1 : checkPositive('localShare', options.localShare);
    this.#queue = new RemoteWaitQueue((cost) => this.#try(cost), options.random);
  }

  get waiting(): number {
    return this.#queue.waiting;
  }

  /** Whether the last Redis call failed and the policy is in force. */
  get unavailable(): boolean {
    return performance.now() < this.#unavailableUntil;
  }

  /**
   * Waits for `cost` tokens from every bucket. Rejects, never throws: `invalid_argument`, `rate_limited`
   * (past `maxWaitMs`), `limiter_unavailable` (under `fail-closed`), `closed` after `close()`, `signal.reason` on abort.
   */
  acquire(options?: AcquireOptions & { readonly maxWaitMs?: number }): Promise<Permit> {
    if (this.#lifecycle.closed) return Promise.reject(closedError('The Redis token bucket'));
    const cost = options?.cost ?? 1;
    try {
      checkPositive('cost', cost);
      checkSignal('signal', options?.signal);
      if (cost > this.#maxBurst) {
        throw new McpConcurrencyError('invalid_argument', `Expected \`cost\` to be at most the smallest burst (${this.#maxBurst}), got \`${cost}\`: it could never be granted`);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#queue.acquire(cost, options?.signal, options?.maxWaitMs ?? this.#maxWaitMs);
  }

  /**
   * No token for `retryAfterMs`, in every process sharing these buckets (they go into debt in Redis).
   * Fire and forget: a Redis failure here is counted in `stats.errors`.
   */
  throttle(retryAfterMs: number): void {
    checkPositive('retryAfterMs', retryAfterMs);
    const args: (string | number)[] = [];
    for (const spec of this.#specs) args.push(spec.rate, spec.burst, spec.ttlMs);
    args.push(retryAfterMs);
    this.stats.redisCalls++;
    // EVAL, not EVALSHA: on a Redis that has not seen the script, EVALSHA's NOSCRIPT retry would land after
    // acquires sent meanwhile on the same connection, and those would not see the debt. Throttles are rare.
    withTimeout(this.#redis.eval(THROTTLE_SCRIPT, this.#keys.length, ...this.#keys, ...args), this.#timeoutMs).catch((error: unknown) => {
      this.stats.errors++;
      this.#onError?.(error);
    });
  }

  /**
   * Refuses new acquires (code `closed`) and lets the waiting ones get their tokens; when `graceMs`
   * elapses or `signal` aborts, rejects those still waiting (code `closed`). The Redis client is yours
   * to close. Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** Rejects every waiter now (code `closed`, `reason` as the cause). Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    return this.#lifecycle.destroy(reason);
  }

  async #try(cost: number): Promise<Attempt> {
    const now = performance.now();
    if (now < this.#unavailableUntil) return this.#unavailable(cost, undefined);
    if (this.#local !== undefined && !this.#chargePending && now >= this.#probationUntil) this.#local = undefined;
    const gate = this.#local;
    const args: (string | number)[] = [];
    for (const spec of this.#specs) args.push(spec.rate, spec.burst, cost, spec.ttlMs);
    // Back from local: one call at a time carries this process's used share of the burst.
    const carry = gate !== undefined && this.#chargePending && !this.#charging;
    if (carry) {
      this.#charging = true;
      gate.forEach((bucket) => args.push(Math.max(0, bucket.burst - bucket.available)));
    }
    if (gate !== undefined) {
      // Probation: the local buckets gate this process as well (spent even if Redis refuses: the safe side).
      const waitMs = localWait(gate, cost);
      if (waitMs > 0) {
        if (carry) this.#charging = false;
        return { retryAfterMs: waitMs };
      }
      for (const bucket of gate) bucket.tryAcquire({ cost });
    }
    let reply: unknown;
    try {
      this.stats.redisCalls++;
      reply = await withTimeout(evalScript(this.#redis, TOKEN_BUCKET_SCRIPT, this.#keys, args), this.#timeoutMs);
    } catch (error) {
      if (carry) this.#charging = false;
      this.stats.errors++;
      this.#unavailableUntil = performance.now() + this.#retryIntervalMs;
      try {
        this.#onError?.(error);
      } catch {
        // A logging hook must not change the decision.
      }
      return this.#unavailable(cost, error);
    }
    if (carry) {
      this.#charging = false;
      this.#chargePending = false;
      this.#probationUntil = performance.now() + this.#retryIntervalMs + this.#timeoutMs;
    }
    const [granted, waitMs] = reply as [number, string];
    if (granted === 1) {
      this.stats.granted++;
      return { permit: RATE_PERMIT };
    }
    return { retryAfterMs: Number(waitMs) };
  }

  #unavailable(cost: number, error: unknown): Attempt {
    switch (this.#policy) {
      case 'fail-open':
        this.stats.failOpen++;
        return { permit: RATE_PERMIT };
      case 'local': {
        // Empty at the switch: this process may have just spent the shared burst, and a full local
        // bucket on top of it broke the bound (by 8.6 tokens at 50/s, burst 10, measured).
        const local = (this.#local ??= this.#specs.map(
          (s) => new TokenBucket({ rate: s.rate / this.#localShare, burst: Math.max(1, s.burst / this.#localShare), startFull: false }),
        ));
        this.#chargePending = true;
        // All or nothing, like the script: try every bucket before taking from any.
        const waitMs = localWait(local, cost);
        if (waitMs > 0) return { retryAfterMs: Math.min(waitMs, Math.max(1, this.#unavailableUntil - performance.now())) };
        for (const bucket of local) bucket.tryAcquire({ cost });
        this.stats.localGrants++;
        return { permit: RATE_PERMIT };
      }
      default:
        throw new McpConcurrencyError(
          'limiter_unavailable',
          `Redis did not answer within ${this.#timeoutMs} ms and the policy is fail-closed${error === undefined ? '' : `: ${describeThrown(error)}`}`,
          { cause: error, retryable: true, retryAfterMs: Math.max(1, Math.ceil(this.#unavailableUntil - performance.now())) },
        );
    }
  }
}

/** 0 when every local bucket has `cost` tokens, else the ms until all of them will (at least 1). */
function localWait(buckets: readonly TokenBucket[], cost: number): number {
  if (buckets.every((b) => b.available >= cost)) return 0;
  return Math.max(1, ...buckets.map((b) => ((cost - b.available) / b.rate) * 1000));
}
