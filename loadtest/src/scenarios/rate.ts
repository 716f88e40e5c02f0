import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { TokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { startMockServer, type MockServer } from '@mcp-concurrency/pool-http/testing';
import Bottleneck from 'bottleneck';
import PQueue from 'p-queue';
import { Agent, request } from 'undici';
import type { ContenderResult, ScenarioResult } from '../model.js';
import { achievedRate, maxInWindow, spread, windowsOverBudget } from '../stats.js';
import type { ScenarioOptions } from './common.js';

const RATE = 20;
const BURST = 5;

/**
 * Rate-limit compliance, judged by the server's own record: a mock server that enforces 20/s (burst 5,
 * answering 429) and logs every arrival. Each limiter is set to the same budget and driven past it by
 * 8 workers; the record gives the windows over burst + rate * t, the most in any second, the 429s and
 * the achieved rate. Ours in process, ours on Redis from 3 OS processes, p-queue, Bottleneck.
 */
export async function rateScenario(options: ScenarioOptions, redisUrl: string | undefined): Promise<ScenarioResult> {
  const durationMs = options.sizes.rateMs ?? (options.quick ? 2_000 : 4_000);
  // The server enforces the same budget with one token of slack for network jitter: the same slack the
  // window judge below allows. A limiter that holds its budget gets no 429.
  const server = await startMockServer({ rateLimit: { rate: RATE, burst: BURST + 1 } });
  const agent = new Agent({ connections: 16 });
  // Each request carries the moment its limiter let it go (`?granted=` epoch ms): the gap to its arrival
  // in the server's record is the jitter the limiter cannot see, measured rather than assumed.
  const hit = async (grantedAt: number): Promise<void> => {
    const { body } = await request(`${server.url}?granted=${grantedAt}`, { dispatcher: agent });
    await body.dump();
  };
  const drive = async (acquire: () => Promise<unknown>): Promise<void> => {
    const until = performance.now() + durationMs;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (performance.now() < until) {
        await acquire();
        const now = performance.now();
        if (now < until) await hit(performance.timeOrigin + now).catch(() => {});
      }
    }));
  };
  const contenders: Record<string, (() => Promise<void>) | undefined> = {
    'mcp-concurrency TokenBucket': async () => {
      const bucket = new TokenBucket({ rate: RATE, burst: BURST });
      await drive(() => bucket.acquire());
    },
    'mcp-concurrency RedisTokenBucket (3 processes)': redisUrl === undefined ? undefined : async () => {
      const worker = fileURLToPath(new URL('../redis-worker.js', import.meta.url));
      const key = `loadtest-${process.pid}-${Date.now()}`;
      const children = Array.from({ length: 3 }, () => spawn(process.execPath, [worker, redisUrl, key, String(RATE), String(BURST), server.url, String(durationMs)], { stdio: 'ignore' }));
      await Promise.all(children.map((c) => once(c, 'exit')));
    },
    'p-queue (intervalCap 20 / 1 s)': async () => {
      const queue = new PQueue({ intervalCap: RATE, interval: 1000 });
      await drive(() => queue.add(async () => {}));
    },
    'Bottleneck (reservoir 20, refreshed each 1 s)': async () => {
      const limiter = new Bottleneck({ reservoir: RATE, reservoirRefreshAmount: RATE, reservoirRefreshInterval: 1000 });
      await drive(() => limiter.schedule(async () => {}));
      await limiter.stop({ dropWaitingJobs: true });
    },
  };
  const results: ContenderResult[] = [];
  const series: Record<string, number[]> = {};
  try {
    for (const [name, run] of Object.entries(contenders)) {
      if (run === undefined) {
        results.push({ contender: name, ours: true, errors: 0, note: 'skipped: REDIS_URL is not set' });
        continue;
      }
      const samples = { windows: [] as number[], max1s: [] as number[], http429: [] as number[], rate: [] as number[], slack: [] as number[] };
      for (let r = 0; r < options.repeats; r++) {
        options.progress.step(`rate: ${name} (run ${r + 1}/${options.repeats}, ${durationMs} ms)`);
        await settle(server);
        server.reset();
        const t0 = performance.timeOrigin + performance.now();
        await run();
        const admitted = server.requests.filter((q) => q.status === 200).map((q) => q.arrivedAt);
        const arrivals = server.requests.map((q) => q.arrivedAt);
        // Slack for the jitter between a grant and its arrival, as this run measured it: one token on a quiet
        // machine, more when the machine is busy (two requests can bunch up by the spread of their delays).
        const slack = 1 + (RATE * deliverySpreadMs(server)) / 1000;
        samples.windows.push(windowsOverBudget(arrivals, RATE, BURST, slack).windows);
        samples.slack.push(slack);
        samples.max1s.push(maxInWindow(arrivals, 1000));
        samples.http429.push(server.requests.filter((q) => q.status === 429).length);
        samples.rate.push(achievedRate(admitted, BURST));
        series[name] = bucketise(arrivals, t0, durationMs, 100);
      }
      results.push({
        contender: name,
        ours: name.startsWith('mcp-concurrency'),
        windowsOverBudget: spread(samples.windows),
        maxIn1s: spread(samples.max1s),
        boundIn1s: BURST + RATE,
        http429: spread(samples.http429),
        achievedRate: spread(samples.rate),
        windowSlack: spread(samples.slack),
        errors: 0,
      });
    }
  } finally {
    await agent.close();
    await server.close();
  }
  return {
    scenario: 'rate',
    title: `Rate-limit compliance: ${RATE}/s, burst ${BURST}, driven past the budget for ${durationMs} ms (the server's record judges)`,
    contenders: results,
    charts: { rate: { limitPerSecond: RATE, burst: BURST, series } },
  };
}

/** The spread (max - min) of grant-to-arrival delays in the server's record, ms. */
function deliverySpreadMs(server: MockServer): number {
  const delays = server.requests.flatMap((q) => {
    const granted = Number(new URL(q.path, 'http://x').searchParams.get('granted'));
    return Number.isFinite(granted) && granted > 0 ? [q.arrivedAt - granted] : [];
  });
  return delays.length === 0 ? 0 : Math.max(...delays) - Math.min(...delays);
}

/** Let the server's own bucket refill, so each contender starts from the same state. */
async function settle(_server: MockServer): Promise<void> {
  await new Promise((r) => setTimeout(r, (BURST / RATE) * 1000 + 100));
}

/** Arrivals per bucket of `bucketMs`, scaled to a per-second rate. */
function bucketise(times: readonly number[], t0: number, durationMs: number, bucketMs: number): number[] {
  const buckets = new Array<number>(Math.ceil(durationMs / bucketMs)).fill(0);
  for (const t of times) {
    const i = Math.floor((t - t0) / bucketMs);
    if (i >= 0 && i < buckets.length) buckets[i]!++;
  }
  return buckets.map((n) => (n * 1000) / bucketMs);
}
