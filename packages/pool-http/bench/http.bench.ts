/**
 * pool-http in one run: 100 requests to a 200 ms server at concurrency 10 vs the ideal 2 s, vs one by
 * one, and vs the seed's pattern (fetch + p-limit); then requests/s on a zero-latency server through
 * bare undici.request, HttpClient (one attempt), HttpPool.fetchAll, and an http tool under a caller's
 * Scheduler two ways: the client's one attempt (now) and HttpPool.request inside the tool (before:
 * two schedulers, two deadline timers, a result turned into an error and back).
 *
 *   npm run bench -w packages/pool-http [-- --json]
 */
// The benchmark measures the built package, as users get it.
import { Scheduler } from '@mcp-concurrency/core-scheduler';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { HttpClient, HttpPool, httpTool, OriginLimits } from '@mcp-concurrency/pool-http';
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
const fastPool = new HttpPool({ allowPrivateNetwork: true, connections: 10, maxPerOrigin: 10, maxParallel: 10 });
const client = new HttpClient({ allowPrivateNetwork: true, connections: 10 });
const clientLimit = pLimit(10);
// A caller's scheduler running an http tool, as the MCP runtime does: the tool's one attempt now...
const limits = new OriginLimits({ maxPerOrigin: 10 });
const tool = httpTool(client, { name: 'get', url: fast.url }, { limits });
const outerNow = new Scheduler({ maxParallel: 10 });
for (const [name, limiter] of tool.limiters) outerNow.setLimiter(name, limiter);
outerNow.register(tool);
// ...and before: HttpPool.request inside the tool, its own scheduler and deadline under the caller's.
const innerPool = new HttpPool({ allowPrivateNetwork: true, connections: 10, maxPerOrigin: 10, maxParallel: 10, retry: 0 });
const outerBefore = new Scheduler({ maxParallel: 10 });
outerBefore.register({ name: 'get', run: (_: unknown, ctx) => innerPool.request({ url: fast.url }, { signal: ctx.signal }) });

const variants: Record<string, () => Promise<unknown>> = {
  'undici.request (bare)': () =>
    Promise.all(Array.from({ length: N }, async () => {
      const { body } = await request(fast.url, { dispatcher: agent });
      await body.json();
    })),
  'HttpClient.request (one attempt, p-limit 10)': () => Promise.all(Array.from({ length: N }, () => clientLimit(() => client.request(fast.url)))),
  'HttpPool.fetchAll': async () => {
    const results = await fastPool.fetchAll(Array.from({ length: N }, () => fast.url));
    if (results.some((x) => x.status !== 'ok')) throw new Error('a request failed');
  },
  'http tool under a Scheduler (now: one client attempt)': async () => {
    const results = await outerNow.runBatch(Array.from({ length: N }, (_, i) => ({ id: String(i), tool: 'get', params: {} })));
    if (results.some((x) => x.status !== 'ok')) throw new Error('a request failed');
  },
  'http tool under a Scheduler (before: HttpPool.request inside)': async () => {
    const results = await outerBefore.runBatch(Array.from({ length: N }, (_, i) => ({ id: String(i), tool: 'get', params: {} })));
    if (results.some((x) => x.status !== 'ok')) throw new Error('a request failed');
  },
};
const names = Object.keys(variants);
const perSecond = new Map<string, number[]>(names.map((n) => [n, []]));
for (const name of names) await variants[name]!(); // warm-up: connections open, code optimised
for (let r = 0; r < 2 * REPEATS + 1; r++) {
  // Rotate the order each round so no variant always runs first or last.
  for (let k = 0; k < names.length; k++) {
    const name = names[(r + k) % names.length]!;
    const start = performance.now();
    await variants[name]!();
    perSecond.get(name)!.push(N / ((performance.now() - start) / 1000));
  }
}
const bare = median(perSecond.get('undici.request (bare)')!);
const throughput = Object.fromEntries(names.map((n) => [n, { perSecond: Math.round(median(perSecond.get(n)!)), vsBare: median(perSecond.get(n)!) / bare }]));

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
  throughput: { ...throughput, target: 'HttpPool.fetchAll vsBare >= 0.95' },
};
await Promise.all([pool.close(), fastPool.close(), client.close(), innerPool.close(), outerNow.close(), outerBefore.close(), agent.close()]);
await Promise.all([slow.close(), fast.close()]);
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`100 requests to a 200 ms server, concurrency 10 (ideal 2,000 ms), median of ${REPEATS} (min-max)`);
  console.table({
    'HttpPool.fetchAll': { 'wall ms': `${median(ours).toFixed(0)} (${range(ours)})`, 'vs ideal': result.latency.fetchAllVsIdeal.toFixed(3) },
    'fetch + p-limit (the seed pattern)': { 'wall ms': `${median(seed).toFixed(0)} (${range(seed)})`, 'vs ideal': result.latency.fetchPlusPLimitVsIdeal.toFixed(3) },
    'one by one (10 measured, x10)': { 'wall ms': sequentialMs.toFixed(0), 'vs ideal': (sequentialMs / 2_000).toFixed(2) },
  });
  console.log(`Zero-latency server, 5,000 requests, 10 connections, median of ${2 * REPEATS + 1} rounds (order rotated)`);
  console.table(Object.fromEntries(names.map((n) => [n, { 'requests/s': throughput[n]!.perSecond, 'vs bare': throughput[n]!.vsBare.toFixed(3), 'µs per request': (1e6 / throughput[n]!.perSecond).toFixed(1) }])));
}
