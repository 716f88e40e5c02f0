// One OS process hammering a shared RedisTokenBucket: prints one JSON line of grant times (epoch ms).
import { Redis } from 'ioredis';
import { RedisTokenBucket } from '../dist/index.js';

const [url, key, rate, burst, durationMs] = process.argv.slice(2);
const redis = new Redis(url, { lazyConnect: false });
const bucket = new RedisTokenBucket({ redis, buckets: [{ key, rate: Number(rate), burst: Number(burst) }] });
const grants = [];
const until = performance.now() + Number(durationMs);
// Four concurrent acquirers per process, each acquiring again as soon as it is granted.
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (performance.now() < until) {
      await bucket.acquire();
      if (performance.now() < until) grants.push(performance.timeOrigin + performance.now());
    }
  }),
);
console.log(JSON.stringify({ grants, stats: bucket.stats }));
redis.disconnect();
