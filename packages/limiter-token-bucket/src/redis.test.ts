import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Scheduler } from '@mcp-concurrency/core-scheduler';
import { measureRoundTrips, redisService } from '@mcp-concurrency/test-services';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bottleneckLimiter } from './bottleneck.js';
import { RedisSemaphore } from './redis-semaphore.js';
import { RedisTokenBucket, type UnavailablePolicy } from './redis-token-bucket.js';
import { maxInWindow, worstExcess } from './compliance.js';

const service = redisService();
const run = `${process.pid}-${Date.now()}`;
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * How far over burst + rate * t a client's record may read when the limiter is exact: each grant time is
 * read after Redis's reply, up to one round trip (the longest measured in the run) after the grant itself,
 * and the two ends of a window can be off in opposite directions. One token more for fractional refills.
 */
/** Redis's round trips may take far over the default 250 ms on a busy machine; these tests are not about that. */
const PATIENT_MS = 10_000;

function jitterSlack(spans: readonly number[], rate: number): number {
  return 1 + (2 * rate * Math.max(0, ...spans)) / 1000;
}

describe.skipIf(service.url === undefined)(`Redis limiters (${service.skipReason ?? service.url})`, () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(service.url!);
  });
  afterAll(async () => {
    const keys = await redis.keys(`*${run}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('several OS processes share one bucket: the bound holds over every window and the rate is met', async () => {
    const rate = 50;
    const burst = 10;
    const worker = fileURLToPath(new URL('../test/redis-worker.mjs', import.meta.url));
    const key = `compliance-${run}`;
    const children = Array.from({ length: 3 }, () =>
      spawn(process.execPath, [worker, service.url!, key, String(rate), String(burst), '3000'], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    const outputs = await Promise.all(children.map(async (child) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await once(child, 'exit');
      return JSON.parse(out) as { grants: number[]; spans: number[]; stats: { redisCalls: number; granted: number } };
    }));
    const grants = outputs.flatMap((o) => o.grants);
    expect(outputs.every((o) => o.grants.length > 0)).toBe(true); // every process got a share
    // Each grant time is read by its client after Redis's reply, so it lies up to one round trip after the
    // grant on Redis. The slack is derived from the round trips the workers measured meanwhile.
    expect(worstExcess(grants, rate, burst)).toBeLessThanOrEqual(jitterSlack(outputs.flatMap((o) => o.spans), rate));
    const sorted = [...grants].sort((a, b) => a - b);
    const span = (sorted[sorted.length - 1]! - sorted[0]!) / 1000;
    const sustained = (sorted.length - burst) / span;
    const late = Math.max(...outputs.flatMap((o) => o.spans)) / 1000; // the last grant read this late at most
    expect(sustained).toBeGreaterThan((0.95 * rate * span) / (span + late));
    expect(sustained).toBeLessThan((1.05 * rate * (span + late)) / span);
  }, 20_000);

  it('demand arriving just before a refill gets no more than the bound', async () => {
    const bucket = new RedisTokenBucket({ redis, buckets: [{ key: `edge-${run}`, rate: 50, burst: 50 }], timeoutMs: PATIENT_MS });
    const grants: number[] = [];
    const take = (n: number): Promise<unknown> => Promise.all(Array.from({ length: n }, () => bucket.acquire().then(() => grants.push(performance.now()))));
    const trips = measureRoundTrips(() => redis.ping());
    await take(50); // the full burst
    await delay(980); // just before a whole second's refill
    await take(60); // p-queue lets a whole new window through here
    expect(worstExcess(grants, 50, 50)).toBeLessThanOrEqual(jitterSlack(await trips.stop(), 50));
  }, 20_000);

  it('takes from several buckets all or nothing', async () => {
    const tight = `tight-${run}`;
    const loose = `loose-${run}`;
    const both = new RedisTokenBucket({ redis, buckets: [{ key: tight, rate: 0.5, burst: 1 }, { key: loose, rate: 100, burst: 5 }], timeoutMs: PATIENT_MS });
    await both.acquire();
    const refused = await both.acquire({ maxWaitMs: 100 }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'rate_limited' });
    const tokens = Number(await redis.hget(`mcpc:tb:${loose}`, 'tokens'));
    expect(tokens).toBeGreaterThanOrEqual(4); // the refusal took nothing from the loose bucket
    expect(await redis.pttl(`mcpc:tb:${loose}`)).toBeGreaterThan(0); // idle buckets expire
  });

  it('throttle puts the shared bucket into debt for every process', async () => {
    const key = `throttle-${run}`;
    const a = new RedisTokenBucket({ redis, buckets: [{ key, rate: 100, burst: 10 }], timeoutMs: PATIENT_MS });
    const b = new RedisTokenBucket({ redis, buckets: [{ key, rate: 100, burst: 10 }], timeoutMs: PATIENT_MS });
    await a.acquire();
    // A Redis that has not seen the scripts yet (a restart, a failover): the throttle, fire and forget, must
    // still land before an acquire sent right after it on the same connection.
    await redis.script('FLUSH');
    const started = performance.now();
    a.throttle(300);
    await b.acquire();
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('aborted and timed-out waiters take no tokens', async () => {
    const key = `abort-${run}`;
    // One token every 2 s: far longer than a busy machine takes for the steps before the refill.
    const bucket = new RedisTokenBucket({ redis, buckets: [{ key, rate: 0.5, burst: 1 }], timeoutMs: PATIENT_MS });
    await bucket.acquire();
    const controller = new AbortController();
    const waiting = bucket.acquire({ signal: controller.signal });
    await delay(20);
    controller.abort(new Error('caller gone'));
    await expect(waiting).rejects.toThrow('caller gone');
    await expect(bucket.acquire({ maxWaitMs: 10 })).rejects.toMatchObject({ code: 'rate_limited' });
    await delay(2_050);
    // The token that came is still there: nobody took it, so an acquire that may not wait at all gets it.
    await expect(bucket.acquire({ maxWaitMs: 0 })).resolves.toBeDefined();
  });

  it('a semaphore holds its limit across clients, and a lease that is not renewed expires', async () => {
    const key = `sem-${run}`;
    const other = new Redis(service.url!);
    const a = new RedisSemaphore({ redis, key, limit: 2, leaseMs: 400, pollMs: 10 });
    const b = new RedisSemaphore({ redis: other, key, limit: 2, leaseMs: 400, pollMs: 10 });
    const p1 = await a.acquire();
    await b.acquire();
    expect(await redis.zcard(`mcpc:sem:${key}`)).toBe(2);
    let third = false;
    const waiting = b.acquire().then((p) => ((third = true), p));
    await delay(100);
    expect(third).toBe(false);
    p1.release();
    const p3 = await waiting;
    expect(third).toBe(true);
    // b "crashes": it loses Redis, its renewals stop, and its two slots expire within the lease.
    other.disconnect();
    await b.destroy();
    const started = performance.now();
    const p4 = await a.acquire();
    const p5 = await a.acquire();
    expect(performance.now() - started).toBeLessThan(1_500);
    p3.release();
    p4.release();
    p5.release();
    await a.close();
  });

  it('a semaphore: close() waits for holders to release, destroy() gives every lease back to Redis at once', async () => {
    const key = `sem-life-${run}`;
    const sem = new RedisSemaphore({ redis, key, limit: 2, leaseMs: 10_000, pollMs: 10 });
    const held = await sem.acquire();
    const waiting = sem.acquire({ cost: 2 });
    const closing = sem.close();
    await expect(sem.acquire()).rejects.toMatchObject({ code: 'closed' });
    let closed = false;
    void closing.then(() => (closed = true));
    held.release();
    const second = await waiting; // a waiter from before close() still gets its slots
    await delay(20);
    expect(closed).toBe(false);
    second.release();
    await closing;
    expect(await redis.zcard(`mcpc:sem:${key}`)).toBe(0);

    const other = new RedisSemaphore({ redis, key, limit: 2, leaseMs: 10_000, pollMs: 10 });
    await other.acquire();
    const blocked = other.acquire({ cost: 2 });
    await other.destroy(new Error('shutdown'));
    await expect(blocked).rejects.toMatchObject({ code: 'closed' });
    expect(await redis.zcard(`mcpc:sem:${key}`)).toBe(0);
    expect(other.held).toBe(0);
  });

  it('a Redis token bucket: close() lets waiters get their tokens, close({ graceMs }) rejects the rest', async () => {
    const key = `tb-life-${run}`;
    const bucket = new RedisTokenBucket({ redis, buckets: [{ key, rate: 20, burst: 1 }] });
    await bucket.acquire();
    const waiting = bucket.acquire();
    await bucket.close();
    await expect(waiting).resolves.toBeDefined();
    await expect(bucket.acquire()).rejects.toMatchObject({ code: 'closed' });

    const slow = new RedisTokenBucket({ redis, buckets: [{ key: `${key}-slow`, rate: 0.1, burst: 1 }] });
    await slow.acquire();
    const stuck = slow.acquire();
    await slow.close({ graceMs: 30 });
    await expect(stuck).rejects.toMatchObject({ code: 'closed', message: 'The limiter was destroyed while this acquire waited' });
    expect(slow.destroy()).toBe(slow.close());
  });

  it('adapts Bottleneck as a Limiter (concurrency held for the whole run)', async () => {
    let running = 0;
    let max = 0;
    const scheduler = new Scheduler({
      maxParallel: 10,
      limiters: { b: bottleneckLimiter(new Bottleneck({ maxConcurrent: 2 })) },
      tools: [{ name: 't', policy: { limiters: ['b'] }, run: async () => {
        max = Math.max(max, ++running);
        await delay(10);
        running--;
      } }],
    });
    const results = await scheduler.runBatch(Array.from({ length: 8 }, () => ({ tool: 't' })));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(max).toBe(2);
  });
});

/** A port nobody listens on now: the kernel picks it for a moment's server, which closes. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe.skipIf(service.url === undefined)('Redis stopped mid-run: each policy does what it says', () => {
  // A second redis-server of our own, on a free port, that the tests kill and start again.
  let port = 0;
  let server: ChildProcess | undefined;
  beforeAll(async () => {
    port = await freePort();
  });
  const start = async (): Promise<void> => {
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => {}); // refused until the server listens
    for (let i = 0; i < 50; i++) {
      try {
        await probe.connect();
        await probe.ping();
        break;
      } catch {
        await delay(100);
      }
    }
    probe.disconnect();
  };
  const stop = async (): Promise<void> => {
    if (server === undefined) return;
    server.kill('SIGKILL');
    await once(server, 'exit');
    server = undefined;
  };
  afterAll(stop);

  it.each<[UnavailablePolicy]>([['fail-closed'], ['fail-open'], ['local']])('%s', async (policy) => {
    await start();
    const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on('error', () => {}); // reconnect noise while the server is down
    const bucket = new RedisTokenBucket({
      redis: client,
      buckets: [{ key: `outage-${policy}-${run}`, rate: 100, burst: 5 }],
      onUnavailable: policy,
      localShare: 2,
      timeoutMs: 200,
      retryIntervalMs: 300,
    });
    await bucket.acquire();
    expect(bucket.stats.granted).toBe(1);
    await stop();

    const started = performance.now();
    const outcome = await bucket.acquire().then(() => 'granted', (e: { code?: string }) => e.code);
    expect(performance.now() - started).toBeLessThan(1_000); // nothing hangs on a dead Redis
    expect(bucket.unavailable).toBe(true);
    if (policy === 'fail-closed') expect(outcome).toBe('limiter_unavailable');
    if (policy === 'fail-open') {
      expect(outcome).toBe('granted');
      expect(bucket.stats.failOpen).toBe(1);
    }
    if (policy === 'local') {
      expect(outcome).toBe('granted');
      expect(bucket.stats.localGrants).toBe(1);
    }
    expect(bucket.stats.errors).toBeGreaterThanOrEqual(1);

    await start();
    await delay(400); // past retryIntervalMs, and the client reconnected
    const grantedBefore = bucket.stats.granted;
    await bucket.acquire();
    expect(bucket.stats.granted).toBe(grantedBefore + 1); // through Redis again
    client.disconnect();
    await stop();
  }, 20_000);

  /**
   * Demand that never lets up, from `buckets` (one per simulated process), while Redis is killed after
   * 1 s and started again 1.5 s later; every grant's time as the client saw it.
   */
  async function outageRun(processes: number): Promise<{ grants: number[]; local: number; granted: number }> {
    await start();
    const rate = 50;
    const burst = 10;
    const key = `outage-bound-${processes}-${run}`;
    const clients = Array.from({ length: processes }, () => {
      const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 50 });
      client.on('error', () => {});
      return client;
    });
    const buckets = clients.map((client) => new RedisTokenBucket({
      redis: client,
      buckets: [{ key, rate, burst }],
      onUnavailable: 'local',
      localShare: processes,
      timeoutMs: 100,
      retryIntervalMs: 200,
    }));
    const grants: number[] = [];
    let running = true;
    const demand = buckets.flatMap((bucket) => Array.from({ length: 4 }, async () => {
      while (running) {
        await bucket.acquire();
        if (running) grants.push(performance.now());
      }
    }));
    await delay(1_000);
    await stop(); // Redis killed mid-run: the switch to local
    await delay(1_500);
    await start(); // a fresh Redis (its bucket full): the switch back
    await delay(1_500);
    running = false;
    await Promise.all(demand);
    const local = buckets.reduce((n, b) => n + b.stats.localGrants, 0);
    const granted = buckets.reduce((n, b) => n + b.stats.granted, 0);
    for (const client of clients) client.disconnect();
    await stop();
    return { grants, local, granted };
  }

  it.each([[1], [2]])('local keeps the bound burst + rate * t across both switches (%i process(es), 50/s, burst 10)', async (processes) => {
    const { grants, local, granted } = await outageRun(processes);
    expect(local).toBeGreaterThan(20); // the local buckets did serve during the outage
    expect(granted).toBeGreaterThan(20); // and Redis before and after it
    // Grant times are the client's (after the reply): one token of slack for round-trip jitter, as above.
    expect(worstExcess(grants, 50, 10)).toBeLessThanOrEqual(1);
    expect(maxInWindow(grants, 1_000)).toBeLessThanOrEqual(60 + 1);
    // And no stall after the switch back (charging every local grant stalled it 1.4 s after a 1.5 s outage).
    const sorted = [...grants].sort((a, b) => a - b);
    expect(Math.max(...sorted.slice(1).map((t, i) => t - sorted[i]!))).toBeLessThan(1_000);
  }, 30_000);
});
