/**
 * One OS process of the distributed rate-limit scenario: sends requests to the mock server as fast
 * as a shared RedisTokenBucket allows, for a while. Args: redisUrl key rate burst targetUrl durationMs.
 */
import { RedisTokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { Redis } from 'ioredis';
import { request } from 'undici';

const [redisUrl, key, rate, burst, target, durationMs] = process.argv.slice(2) as [string, string, string, string, string, string];
const redis = new Redis(redisUrl);
// Compliance is judged here, not Redis's latency: a busy machine may take over the default 250 ms.
const bucket = new RedisTokenBucket({ redis, buckets: [{ key, rate: Number(rate), burst: Number(burst) }], timeoutMs: 10_000 });
const until = performance.now() + Number(durationMs);
let errors = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (performance.now() < until) {
      await bucket.acquire();
      if (performance.now() >= until) break;
      try {
        const { body } = await request(`${target}?granted=${performance.timeOrigin + performance.now()}`);
        await body.dump();
      } catch {
        errors++;
      }
    }
  }),
);
console.log(JSON.stringify({ errors }));
redis.disconnect();
