/**
 * Limiters side by side in one run: acquire throughput, Redis round trips, and window compliance
 * (the most grants in any 1 s window when driven past a 50/s budget, against the bound burst + rate * t).
 *
 *   REDIS_URL=redis://127.0.0.1:6379 npm run bench -w packages/limiter-token-bucket [-- --json]
 */
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import PQueue from 'p-queue';
import { maxInWindow } from '../src/compliance.js';
// The benchmark measures the built package, as users get it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { bottleneckLimiter, RedisTokenBucket, TokenBucket } from '@mcp-concurrency/limiter-token-bucket';

const json = process.argv.includes('--json');
const log = (s: string): void => void (json || console.error(s));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---- acquire throughput with plenty of tokens (the limiter's own cost) -----------------------------
const N = 100_000;
async function rate(fn: () => Promise<unknown>, n = N): Promise<number> {
  const t = performance.now();
  const all: Promise<unknown>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = fn();
  await Promise.all(all);
  return n / ((performance.now() - t) / 1000);
}
log('acquire throughput...');
const throughput: Record<string, number> = {};
{
  const samples: Record<string, number[]> = { 'TokenBucket.acquire': [], 'TokenBucket.tryAcquire': [], 'p-queue interval': [], 'Bottleneck reservoir': [] };
  for (let r = 0; r < 5; r++) {
    const bucket = new TokenBucket({ rate: 1e9, burst: 1e9 });
    samples['TokenBucket.acquire']!.push(await rate(() => bucket.acquire()));
    samples['TokenBucket.tryAcquire']!.push(await rate(async () => bucket.tryAcquire()));
    const queue = new PQueue({ intervalCap: 1e9, interval: 1000 });
    samples['p-queue interval']!.push(await rate(() => queue.add(async () => {})));
    const bottleneck = new Bottleneck({ reservoir: 1e9 });
    samples['Bottleneck reservoir']!.push(await rate(() => bottleneck.schedule(async () => {}), 2_000));
    await bottleneck.stop({ dropWaitingJobs: false });
  }
  for (const [k, v] of Object.entries(samples)) throughput[k] = median(v);
}

// ---- Redis: acquires per second and round trips per acquire ----------------------------------------
const redisUrl = process.env['REDIS_URL'];
let redisFigures: { acquiresPerSecond: number; roundTripsPerAcquire: number } | undefined;
if (redisUrl) {
  log('Redis bucket throughput...');
  const redis = new Redis(redisUrl);
  const bucket = new RedisTokenBucket({ redis, buckets: [{ key: `bench-${Date.now()}`, rate: 1e9, burst: 1e9 }] });
  const samples: number[] = [];
  for (let r = 0; r < 3; r++) samples.push(await rate(() => bucket.acquire(), 5_000));
  redisFigures = { acquiresPerSecond: median(samples), roundTripsPerAcquire: bucket.stats.redisCalls / bucket.stats.granted };
  redis.disconnect();
}

// ---- compliance: 50/s, burst 10, driven past the budget across window boundaries -------------------
const RATE = 50;
const BURST = 10;
const DURATION = 2_500;
async function drive(acquire: () => Promise<unknown>): Promise<number[]> {
  const grants: number[] = [];
  const until = performance.now() + DURATION;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() < until) {
      await acquire();
      if (performance.now() < until) grants.push(performance.now());
    }
  }));
  return grants;
}
log('window compliance (2.5 s each)...');
const compliance: Record<string, { grants: number; maxIn1s: number; boundIn1s: number; maxIn100ms: number; boundIn100ms: number; achievedPerSecond: number }> = {};
const contenders: Record<string, () => Promise<() => Promise<unknown>>> = {
  'TokenBucket (ours)': async () => {
    const b = new TokenBucket({ rate: RATE, burst: BURST });
    return () => b.acquire();
  },
  'p-queue (intervalCap 50 / 1000 ms)': async () => {
    const q = new PQueue({ intervalCap: RATE, interval: 1000 });
    return () => q.add(async () => {});
  },
  'Bottleneck (reservoir 50, refreshed each 1000 ms)': async () => {
    const b = new Bottleneck({ reservoir: RATE, reservoirRefreshAmount: RATE, reservoirRefreshInterval: 1000 });
    return () => b.schedule(async () => {});
  },
  'bottleneckLimiter (our adapter over that Bottleneck)': async () => {
    const limiter = bottleneckLimiter(new Bottleneck({ reservoir: RATE, reservoirRefreshAmount: RATE, reservoirRefreshInterval: 1000 }));
    return async () => (await limiter.acquire()).release();
  },
};
if (redisUrl) {
  contenders['RedisTokenBucket (ours)'] = async () => {
    const redis = new Redis(redisUrl);
    const b = new RedisTokenBucket({ redis, buckets: [{ key: `bench-c-${Date.now()}`, rate: RATE, burst: BURST }] });
    return () => b.acquire();
  };
}
for (const [name, make] of Object.entries(contenders)) {
  const grants = await drive(await make());
  const sorted = [...grants].sort((a, b) => a - b);
  compliance[name] = {
    grants: grants.length,
    maxIn1s: maxInWindow(grants, 1000),
    boundIn1s: BURST + RATE,
    maxIn100ms: maxInWindow(grants, 100),
    boundIn100ms: BURST + RATE * 0.1,
    achievedPerSecond: Math.round(((sorted.length - BURST) / ((sorted[sorted.length - 1]! - sorted[0]!) / 1000)) * 10) / 10,
  };
}

const results = { node: process.version, acquiresPerSecond: throughput, redis: redisFigures, compliance };
if (json) console.log(JSON.stringify(results, null, 2));
else {
  console.log('Acquire throughput, tokens plentiful (acquires/s, median of 5)');
  console.table(Object.fromEntries(Object.entries(throughput).map(([k, v]) => [k, { 'acquires/s': Math.round(v) }])));
  if (redisFigures) {
    console.log('RedisTokenBucket on 127.0.0.1');
    console.table({ redis: { 'acquires/s': Math.round(redisFigures.acquiresPerSecond), 'round trips / acquire': redisFigures.roundTripsPerAcquire.toFixed(2) } });
  }
  console.log(`Window compliance at ${RATE}/s, burst ${BURST}, demand past budget for ${DURATION} ms`);
  console.table(compliance);
}
process.exit(0);
