/**
 * One OS process of the distributed rate-limit scenario: sends requests to the mock server as fast
 * as a shared RedisTokenBucket allows, for a while. Args: redisUrl key rate burst targetUrl durationMs.
 */
import { RedisTokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { Redis } from 'ioredis';
import { request } from 'undici';

const [redisUrl, key, rate, burst, target, durationMs] = process.argv.slice(2) as [string, string, string, string, string, string];
const redis = new Redis(redisUrl);
const bucket = new RedisTokenBucket({ redis, buckets: [{ key, rate: Number(rate), burst: Number(burst) }] });
const until = performance.now() + Number(durationMs);
let errors = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (performance.now() < until) {
      await bucket.acquire();
      if (performance.now() >= until) break;
      try {
        const { body } = await request(target);
        await body.dump();
      } catch {
        errors++;
      }
    }
  }),
);
console.log(JSON.stringify({ errors }));
redis.disconnect();
