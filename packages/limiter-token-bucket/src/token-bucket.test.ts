import { Scheduler, type Limiter } from '@mcp-concurrency/core-scheduler';
import Bottleneck from 'bottleneck';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bottleneckLimiter } from './bottleneck.js';
import { worstExcess } from './compliance.js';
import { RedisSemaphore } from './redis-semaphore.js';
import { RedisTokenBucket } from './redis-token-bucket.js';
import { TokenBucket } from './token-bucket.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('TokenBucket', () => {
  it('grants the burst at once, then one token per 1/rate s, FIFO: a big cost is not starved', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket({ rate: 10, burst: 3 });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) await bucket.acquire();
    const big = bucket.acquire({ cost: 3 }).then(() => order.push('big'));
    const small = bucket.acquire({ cost: 1 }).then(() => order.push('small'));
    expect(bucket.tryAcquire()).toBeUndefined(); // waiters come first
    await vi.advanceTimersByTimeAsync(250);
    expect(order).toEqual([]);
    await vi.advanceTimersByTimeAsync(60);
    expect(order).toEqual(['big']);
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
  });

  it('an aborted waiter leaves at once and takes no token', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket({ rate: 10, burst: 1 });
    await bucket.acquire();
    const controller = new AbortController();
    const aborted = bucket.acquire({ signal: controller.signal });
    const behind = bucket.acquire();
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    expect(bucket.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(101);
    await behind; // got the first new token: the aborted waiter took none
    expect(bucket.granted).toBe(2);
  });

  it('refuses at once with rate_limited and retryAfterMs when the wait would pass maxWaitMs', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket({ rate: 2, burst: 1, maxWaitMs: 400 });
    await bucket.acquire();
    const error = await bucket.acquire().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'rate_limited', retryAfterMs: 500, retryable: true });
    const ok = bucket.acquire({ maxWaitMs: 600 });
    await vi.advanceTimersByTimeAsync(500);
    await expect(ok).resolves.toBeDefined();
  });

  it('validates options and cost', async () => {
    expect(() => new TokenBucket({ rate: '10' as unknown as number })).toThrow('Expected `rate` to be a finite number > 0, got `"10"` (string)');
    expect(() => new TokenBucket({ rate: 5, burst: 0 })).toThrow('Expected `burst` to be a finite number > 0, got `0` (number)');
    const bucket = new TokenBucket({ rate: 5, burst: 2 });
    await expect(bucket.acquire({ cost: 3 })).rejects.toThrow("at most the bucket's burst (2)");
    expect(() => bucket.tryAcquire({ cost: 3 })).toThrow('could never be granted');
  });

  it('setRate slows the bucket down at run time', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket({ rate: 100, burst: 1 });
    await bucket.acquire();
    bucket.setRate(1);
    let done = false;
    void bucket.acquire().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(900);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(150);
    expect(done).toBe(true);
  });

  it('close() refuses new acquires and lets waiters get their tokens; close and destroy are one promise', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket({ rate: 10, burst: 1 });
    await bucket.acquire();
    const waiting = bucket.acquire();
    const closing = bucket.close();
    expect(bucket.close()).toBe(closing);
    await expect(bucket.acquire()).rejects.toMatchObject({ code: 'closed', message: 'The token bucket is closed' });
    expect(bucket.tryAcquire()).toBeUndefined();
    let closed = false;
    void closing.then(() => (closed = true));
    await vi.advanceTimersByTimeAsync(100);
    await expect(waiting).resolves.toBeDefined();
    await closing;
    expect(closed).toBe(true);
    expect(bucket.destroy()).toBe(closing);
  });

  it('close({ graceMs }) rejects the waiters left when the grace ends; destroy() rejects them at once', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket({ rate: 1, burst: 1 });
    await bucket.acquire();
    const waiting = bucket.acquire();
    const closing = bucket.close({ graceMs: 50 });
    const outcome = waiting.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(50);
    expect(await outcome).toMatchObject({ code: 'closed', message: 'The token bucket was destroyed while this acquire waited' });
    await closing;

    const other = new TokenBucket({ rate: 1, burst: 1 });
    await other.acquire();
    const waitingToo = other.acquire();
    const reason = new Error('shutting down');
    await other.destroy(reason);
    await expect(waitingToo).rejects.toMatchObject({ code: 'closed', cause: reason });
    await expect(other.close({ graceMs: 10_000 })).resolves.toBeUndefined();
  });

  it('holds burst + rate * t over every window, loses no token, and grants at the rate under excess demand (real timers)', async () => {
    const rate = 50;
    const burst = 10;
    // The bucket's own record: the clock reading its grant decision was made at. A reading taken by the
    // test when the promise settles can land several ms late on a busy machine, and compress two grants.
    let reading = 0;
    const clock = { now: () => (reading = performance.now()) };
    const bucket = new TokenBucket({ rate, burst, clock });
    // From the first acquire on the bucket is never full, so it accrues without a cap.
    let sinceFirst = Number.NaN;
    const grants: number[] = [];
    let accounted = { granted: 0, held: 0, at: 0 };
    // 110 acquires at once: demand far over supply for 2 s. A grant made inside acquire() was decided at
    // that call's reading; a waiter's grant at the reading of the timer callback that granted it (its
    // promise settles in the microtasks right after that callback, before any other clock reading).
    await Promise.all(
      Array.from({ length: 110 }, () => {
        const before = bucket.granted;
        const permit = bucket.acquire();
        const at = reading;
        if (Number.isNaN(sinceFirst)) sinceFirst = at;
        const immediate = bucket.granted > before;
        return permit.then(() => {
          grants.push(immediate ? at : reading);
          // Right after the last grant, before the bucket could fill up to burst and stop accruing.
          if (grants.length === 110) accounted = { granted: bucket.granted, held: bucket.available, at: reading };
        });
      }),
    );
    // Exact but for floating point: the bound is burst + rate * t as the bucket measured t.
    expect(worstExcess(grants, rate, burst)).toBeLessThanOrEqual(1e-6);
    // No token lost to timer rounding or late timers: under constant demand the bucket never sits full, so
    // what it granted plus what it holds is exactly what it accrued since then.
    expect(accounted.granted + accounted.held).toBeCloseTo(burst + (rate * (accounted.at - sinceFirst)) / 1000, 6);
    // Waiters are granted at the rate: a late timer delays one grant, but the median gap between grants
    // stays one token's time (rounded up to the next millisecond, as timers are).
    const gaps = grants.slice(burst).map((t, i) => t - grants[burst + i - 1]!).sort((a, b) => a - b);
    expect(gaps[gaps.length >> 1]!).toBeLessThanOrEqual(1000 / rate + 1);
  });

  it('plugs into the scheduler as a named limiter', async () => {
    vi.useFakeTimers();
    const starts: number[] = [];
    const scheduler = new Scheduler({
      maxParallel: 10,
      limiters: { api_calls: new TokenBucket({ rate: 10, burst: 2 }) },
      tools: [{ name: 'call_api', run: () => void starts.push(Date.now()), policy: { limiters: ['api_calls'] } }],
    });
    const all = scheduler.runBatch(Array.from({ length: 6 }, () => ({ tool: 'call_api' })));
    await vi.advanceTimersByTimeAsync(1_000);
    const results = await all;
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    const t0 = starts[0]!;
    expect(starts.map((t) => t - t0)).toEqual([0, 0, 100, 200, 300, 400]);
  });
});

describe('TokenBucket.throttle', () => {
  it('grants nothing for retryAfterMs, then resumes at the rate', async () => {
    vi.useFakeTimers();
    const bucket = new TokenBucket({ rate: 10, burst: 5 });
    bucket.throttle(1_000);
    let granted = 0;
    const all = Promise.all(Array.from({ length: 3 }, () => bucket.acquire().then(() => granted++)));
    await vi.advanceTimersByTimeAsync(990);
    expect(granted).toBe(0);
    await vi.advanceTimersByTimeAsync(320);
    await all;
    expect(granted).toBe(3); // at 1.1, 1.2 and 1.3 s
  });
});

describe('every Limiter here rejects, never throws', () => {
  // A stand-in client: the argument checks reject before anything would reach Redis.
  const redis = { evalsha: () => Promise.reject(new Error('not used')) } as unknown as Redis;
  const limiters: [string, () => Limiter][] = [
    ['TokenBucket', () => new TokenBucket({ rate: 1 })],
    ['RedisTokenBucket', () => new RedisTokenBucket({ redis, buckets: [{ key: 'k', rate: 1 }] })],
    ['RedisSemaphore', () => new RedisSemaphore({ redis, key: 'k', limit: 1 })],
    ['bottleneckLimiter', () => bottleneckLimiter(new Bottleneck({ maxConcurrent: 1 }))],
  ];
  it.each(limiters)('%s: a bad signal or cost is an invalid_argument rejection', async (name, make) => {
    const limiter = make();
    let acquired: Promise<unknown> | undefined;
    expect(() => (acquired = limiter.acquire({ signal: 'soon' as unknown as AbortSignal }))).not.toThrow();
    await expect(acquired).rejects.toMatchObject({ code: 'invalid_argument' });
    if (name !== 'bottleneckLimiter') {
      // Bottleneck has no cap to check a cost against.
      expect(() => (acquired = limiter.acquire({ cost: 1_000 }))).not.toThrow();
      await expect(acquired).rejects.toMatchObject({ code: 'invalid_argument' });
    }
  });
});
