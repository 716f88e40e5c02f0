import { HttpPool } from '@mcp-concurrency/pool-http';
import { startMockServer } from '@mcp-concurrency/pool-http/testing';
import { Agent, request } from 'undici';
import { ANCHORS, type Span } from '../contenders.js';
import type { ScenarioResult } from '../model.js';
import { idealMs } from '../stats.js';
import { record, summarise, type Samples, type ScenarioOptions } from './common.js';

/**
 * HTTP fan-out to a mock server with fixed latency, through pool-http, against sequential and the
 * anchors (undici.request under p-limit, p-queue, Bottleneck). First the seed's "5 calls x 200 ms"
 * (1 s one by one, 200 ms at once), then a larger N under a limit.
 */
export async function httpScenario(options: ScenarioOptions): Promise<ScenarioResult[]> {
  const latency = options.sizes.latencyMs ?? (options.quick ? 100 : 200);
  const calls = options.sizes.calls ?? (options.quick ? 30 : 100);
  const cases = [
    { id: 'http-seed', n: 5, concurrency: 5, title: `HTTP fan-out, the seed's case: 5 calls x ${latency} ms` },
    { id: 'http-fanout', n: calls, concurrency: 10, title: `HTTP fan-out: ${calls} calls x ${latency} ms, concurrency 10` },
  ];
  const server = await startMockServer({ latencyMs: latency });
  const results: ScenarioResult[] = [];
  try {
    for (const c of cases) {
      const samples: Samples = {};
      const timelines: Record<string, Span[]> = {};
      const agent = new Agent({ connections: c.concurrency });
      for (let r = 0; r < options.repeats; r++) {
        for (const [name, run] of Object.entries(ANCHORS)) {
          options.progress.step(`${c.id}: ${name} (run ${r + 1}/${options.repeats})`);
          const spans: Span[] = [];
          const tasks = Array.from({ length: c.n }, () => async () => {
            const { statusCode, body } = await request(server.url, { dispatcher: agent });
            await body.dump();
            if (statusCode !== 200) throw new Error(`HTTP ${statusCode}`);
          });
          const t0 = performance.now();
          let errors = 0;
          await run(tasks.map((t) => () => t().catch(() => void errors++)), c.concurrency, spans, t0);
          record(samples, name, performance.now() - t0, errors);
          timelines[name] = spans;
        }
        options.progress.step(`${c.id}: mcp-concurrency (run ${r + 1}/${options.repeats})`);
        const pool = new HttpPool({ allowPrivateNetwork: true, connections: c.concurrency, maxPerOrigin: c.concurrency });
        const spans: Span[] = [];
        const t0 = performance.now();
        // Spans come from the server's record for ours (the client sees only the batch).
        server.reset();
        const res = await pool.fetchAll(Array.from({ length: c.n }, () => server.url));
        record(samples, 'mcp-concurrency', performance.now() - t0, res.filter((x) => x.status !== 'ok').length);
        const origin = performance.timeOrigin + t0;
        for (const req of server.requests) spans.push({ start: req.arrivedAt - origin, end: (req.finishedAt ?? req.arrivedAt) - origin });
        timelines['mcp-concurrency'] = spans;
        await pool.close();
      }
      await agent.close();
      results.push({
        scenario: c.id,
        title: c.title,
        contenders: summarise(samples, idealMs(c.n, latency, c.concurrency), new Set(['mcp-concurrency']), { anchor: 'p-limit', slowdown: options.slowdown }),
        charts: { timelines: { sequential: timelines['sequential'] ?? [], 'mcp-concurrency': timelines['mcp-concurrency'] ?? [] } },
      });
    }
  } finally {
    await server.close();
  }
  return results;
}

