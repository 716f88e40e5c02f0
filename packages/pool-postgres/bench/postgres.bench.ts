/**
 * pool-postgres in one run: 20 x pg_sleep(0.1) over a pool of 10 vs the ideal 200 ms and vs
 * sequential, and simple-query throughput through queryMany vs bare pool.query on the same pool.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -w packages/pool-postgres [-- --json]
 */
// The benchmark measures the built package, as users get it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { PostgresPool } from '@mcp-concurrency/pool-postgres';
import { startPostgres } from '@mcp-concurrency/test-services';
import pg from 'pg';

const json = process.argv.includes('--json');
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const THROUGHPUT_REPEATS = Number(process.env['BENCH_REPEATS'] ?? 11);
const log = (s: string): void => void (json || console.error(s));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[]): string => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;

const service = await startPostgres();
const pool = new pg.Pool({ connectionString: service.url, max: 10 });
// An idle client whose server goes away (an embedded Postgres stopping) errors on the pool: say so
// instead of crashing on an unhandled 'error' event (test-services still stops and removes the server).
pool.on('error', (error) => console.error(`an idle connection failed: ${error.message}`));
const db = new PostgresPool({ pool });
await Promise.all(Array.from({ length: 10 }, () => pool.query('SELECT 1'))); // warm all 10 connections

log('20 x pg_sleep(0.1), pool of 10...');
const sleep = { sql: 'SELECT pg_sleep(0.1)' };
const concurrent: number[] = [];
const sequential: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  let t = performance.now();
  const results = await db.queryMany(Array.from({ length: 20 }, () => sleep));
  concurrent.push(performance.now() - t);
  if (results.some((x) => x.status !== 'ok')) throw new Error('a query failed');
  if (r < 2) {
    t = performance.now();
    for (let i = 0; i < 20; i++) await db.query(sleep.sql);
    sequential.push(performance.now() - t);
  }
}

log('simple-query throughput (SELECT 1 x 5,000)...');
const N = 5_000;
const ours: number[] = [];
const bare: number[] = [];
const runBare = async (): Promise<void> => {
  const t = performance.now();
  await Promise.all(Array.from({ length: N }, () => pool.query('SELECT 1')));
  bare.push(N / ((performance.now() - t) / 1000));
};
const runOurs = async (): Promise<void> => {
  const t = performance.now();
  const results = await db.queryMany(Array.from({ length: N }, () => ({ sql: 'SELECT 1' })));
  ours.push(N / ((performance.now() - t) / 1000));
  if (results.some((x) => x.status !== 'ok')) throw new Error('a query failed');
};
// Warm-up, then alternate which goes first so neither always runs on a warmer server.
await runBare();
await runOurs();
bare.length = ours.length = 0;
for (let r = 0; r < THROUGHPUT_REPEATS; r++) {
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
  postgres: service.source,
  sleep: { idealMs: 200, concurrentMs: median(concurrent), vsIdeal: median(concurrent) / 200, sequentialMs: median(sequential), speedup: median(sequential) / median(concurrent), target: 'vsIdeal <= 1.1' },
  throughput: { queryManyPerSecond: Math.round(median(ours)), barePoolQueryPerSecond: Math.round(median(bare)), ratio: median(ours) / median(bare), target: 'ratio >= 0.9' },
};
await db.close();
await pool.end();
await service.stop();
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`Postgres: ${service.source}; median of ${REPEATS} (min-max), throughput median of ${THROUGHPUT_REPEATS}`);
  console.table({
    'queryMany, pool of 10': { 'wall ms': `${median(concurrent).toFixed(1)} (${spread(concurrent)})`, 'vs ideal 200 ms': result.sleep.vsIdeal.toFixed(3) },
    sequential: { 'wall ms': `${median(sequential).toFixed(1)} (${spread(sequential)})`, 'vs ideal 200 ms': (median(sequential) / 200).toFixed(2) },
  });
  console.table({
    'bare pool.query': { 'queries/s': result.throughput.barePoolQueryPerSecond },
    queryMany: { 'queries/s': result.throughput.queryManyPerSecond, 'vs bare': result.throughput.ratio.toFixed(3) },
  });
}
