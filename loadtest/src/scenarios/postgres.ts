import { PostgresPool } from '@mcp-concurrency/pool-postgres';
import type { PostgresService } from '@mcp-concurrency/test-services';
import pg from 'pg';
import { ANCHORS, type Span } from '../contenders.js';
import type { ScenarioResult } from '../model.js';
import { idealMs } from '../stats.js';
import { record, summarise, type Samples, type ScenarioOptions } from './common.js';

/**
 * Postgres fan-out through pool-postgres against sequential and the anchors (pool.query under
 * p-limit, p-queue, Bottleneck), on the same pg.Pool: pg_sleep (the server waits), then real queries
 * (the server works: on 2 cores, about 2x is the ceiling, and the table says so).
 */
export async function postgresScenario(options: ScenarioOptions, service: PostgresService): Promise<ScenarioResult[]> {
  const sleepS = options.quick ? 0.05 : 0.1;
  const poolSize = 10;
  const cases = [
    { id: 'pg-sleep', n: 20, sql: `SELECT pg_sleep(${sleepS})`, ideal: idealMs(20, sleepS * 1000, poolSize), title: `Postgres: 20 x pg_sleep(${sleepS}), pool of ${poolSize}` },
    { id: 'pg-queries', n: options.quick ? 20 : 40, sql: 'SELECT sum(x) FROM generate_series(1, 200000) AS x', ideal: Number.NaN, title: 'Postgres: real queries (sum over generate_series(1, 200000)), pool of 10' },
  ];
  const pool = new pg.Pool({ connectionString: service.url, max: poolSize });
  // An idle client whose server goes away (an embedded Postgres stopping) errors on the pool: report it
  // rather than let the unhandled 'error' event end the harness. The queries' own errors are counted.
  pool.on('error', (error) => options.progress.step(`postgres: an idle connection failed: ${error.message}`));
  await Promise.all(Array.from({ length: poolSize }, () => pool.query('SELECT 1')));
  const db = new PostgresPool({ pool });
  const results: ScenarioResult[] = [];
  try {
    for (const c of cases) {
      const samples: Samples = {};
      for (let r = 0; r < options.repeats; r++) {
        for (const [name, run] of Object.entries(ANCHORS)) {
          options.progress.step(`${c.id}: ${name} (run ${r + 1}/${options.repeats})`);
          let errors = 0;
          const tasks = Array.from({ length: c.n }, () => () => pool.query(c.sql).catch(() => void errors++));
          const t0 = performance.now();
          await run(tasks, poolSize, [] as Span[], t0);
          record(samples, name, performance.now() - t0, errors);
        }
        options.progress.step(`${c.id}: mcp-concurrency (run ${r + 1}/${options.repeats})`);
        const t0 = performance.now();
        const res = await db.queryMany(Array.from({ length: c.n }, () => ({ sql: c.sql })));
        record(samples, 'mcp-concurrency', performance.now() - t0, res.filter((x) => x.status !== 'ok').length);
      }
      // Real queries have no fixed task time: the ideal is the sequential time over the pool, bounded by the cores.
      const sequential = samples['sequential']!.wall;
      const ideal = Number.isNaN(c.ideal) ? [...sequential].sort((a, b) => a - b)[sequential.length >> 1]! / Math.min(poolSize, 2) : c.ideal;
      results.push({ scenario: c.id, title: c.title, contenders: summarise(samples, ideal, new Set(['mcp-concurrency']), { anchor: 'p-limit', slowdown: options.slowdown }) });
    }
  } finally {
    await db.close();
    await pool.end();
  }
  return results;
}
