/**
 * pool-http in one run: 100 requests to a 200 ms server at concurrency 10 vs the ideal 2 s, vs one by
 * one, and vs the seed's pattern (fetch + p-limit); then requests/s through fetchAll vs bare
 * undici.request on a zero-latency server.
 *
 *   npm run bench -w packages/pool-http [-- --json]
 */
// The benchmark measures the built package, as users get it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { HttpPool } from '@mcp-concurrency/pool-http';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startMockServer } from '@mcp-concurrency/pool-http/testing';
import pLimit from 'p-limit';
import { Agent, request } from 'undici';

const json = process.argv.includes('--json');
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const log = (s: string): void => void (json || console.error(s));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[]): string => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;

const slow = await startMockServer({ latencyMs: 200 });
const fast = await startMockServer();

log('100 requests x 200 ms at concurrency 10...');
const ours: number[] = [];
const seed: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  const pool = new HttpPool({ allowPrivateNetwork: true, connections: 10, maxPerOrigin: 10 });
  let t = performance.now();
  const results = await pool.fetchAll(Array.from({ length: 100 }, () => slow.url));
  ours.push(performance.now() - t);
  if (results.some((x) => x.status !== 'ok')) throw new Error('a request failed');
  await pool.close();
  // The seed's Step 1-2 pattern in Node: fetch + p-limit(10).
  const limit = pLimit(10);
  t = performance.now();
  await Promise.all(Array.from({ length: 100 }, () => limit(async () => (await fetch(slow.url)).json())));
  seed.push(performance.now() - t);
}
log('one by one (10 requests, x10 for 100)...');
const pool = new HttpPool({ allowPrivateNetwork: true });
const t = performance.now();
for (let i = 0; i < 10; i++) await pool.request(slow.url);
const sequentialMs = (performance.now() - t) * 10;

log('requests/s on a zero-latency server (5,000 requests, 10 connections)...');
const N = 5_000;
const agent = new Agent({ connections: 10 });
const tputOurs: number[] = [];
const tputBare: number[] = [];
const runBare = async (): Promise<void> => {
  const start = performance.now();
  await Promise.all(Array.from({ length: N }, async () => {
    const { body } = await request(fast.url, { dispatcher: agent });
    await body.json();
  }));
  tputBare.push(N / ((performance.now() - start) / 1000));
};
const fastPool = new HttpPool({ allowPrivateNetwork: true, connections: 10, maxPerOrigin: 10, maxParallel: 10 });
const runOurs = async (): Promise<void> => {
  const start = performance.now();
  const results = await fastPool.fetchAll(Array.from({ length: N }, () => fast.url));
  tputOurs.push(N / ((performance.now() - start) / 1000));
  if (results.some((x) => x.status !== 'ok')) throw new Error('a request failed');
};
await runBare();
await runOurs();
tputBare.length = tputOurs.length = 0;
for (let r = 0; r < 2 * REPEATS + 1; r++) {
  if (r % 2 === 0) {
    await runBare();
    await runOurs();
  } else {
    await runOurs();
    await runBare();
  }
}

const result = {
  node: process.version,
  latency: {
    idealMs: 2_000,
    fetchAllMs: median(ours),
    fetchAllVsIdeal: median(ours) / 2_000,
    fetchPlusPLimitMs: median(seed),
    fetchPlusPLimitVsIdeal: median(seed) / 2_000,
    sequentialMs,
    speedupVsSequential: sequentialMs / median(ours),
    target: 'fetchAllVsIdeal <= 1.05',
  },
  throughput: { fetchAllPerSecond: Math.round(median(tputOurs)), bareUndiciPerSecond: Math.round(median(tputBare)), ratio: median(tputOurs) / median(tputBare), target: 'ratio >= 0.9' },
};
await Promise.all([pool.close(), fastPool.close(), agent.close(), slow.close(), fast.close()]);
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`100 requests to a 200 ms server, concurrency 10 (ideal 2,000 ms), median of ${REPEATS} (min-max)`);
  console.table({
    'HttpPool.fetchAll': { 'wall ms': `${median(ours).toFixed(0)} (${range(ours)})`, 'vs ideal': result.latency.fetchAllVsIdeal.toFixed(3) },
    'fetch + p-limit (the seed pattern)': { 'wall ms': `${median(seed).toFixed(0)} (${range(seed)})`, 'vs ideal': result.latency.fetchPlusPLimitVsIdeal.toFixed(3) },
    'one by one (10 measured, x10)': { 'wall ms': sequentialMs.toFixed(0), 'vs ideal': (sequentialMs / 2_000).toFixed(2) },
  });
  console.log(`Zero-latency server, 5,000 requests, 10 connections, median of ${2 * REPEATS + 1} alternating`);
  console.table({
    'undici.request (bare)': { 'requests/s': result.throughput.bareUndiciPerSecond },
    'HttpPool.fetchAll': { 'requests/s': result.throughput.fetchAllPerSecond, 'vs bare': result.throughput.ratio.toFixed(3) },
  });
}
