// One OS process hammering a shared RedisTokenBucket: prints one JSON line of grant times (epoch ms) and
// the round trips to Redis it measured meanwhile (a grant is read up to one round trip after Redis made it).
import { Redis } from 'ioredis';
import { RedisTokenBucket } from '../dist/index.js';

const [url, key, rate, burst, durationMs] = process.argv.slice(2);
const redis = new Redis(url, { lazyConnect: false });
// Compliance is the point here, not Redis's latency: a busy machine may take far over the default 250 ms.
const bucket = new RedisTokenBucket({ redis, buckets: [{ key, rate: Number(rate), burst: Number(burst) }], timeoutMs: 10_000 });
const until = performance.now() + Number(durationMs);
const grants = [];
const spans = [];
// Round trips measured beside the acquires, on a second connection, every 10 ms.
const probe = new Redis(url);
const probing = (async () => {
  while (performance.now() < until) {
    const sent = performance.now();
    await probe.ping();
    spans.push(performance.now() - sent);
    await new Promise((r) => setTimeout(r, 10));
  }
})();
// Four concurrent acquirers per process, each acquiring again as soon as it is granted.
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (performance.now() < until) {
      await bucket.acquire();
      const now = performance.now();
      if (now < until) grants.push(performance.timeOrigin + now);
    }
  }),
);
await probing;
console.log(JSON.stringify({ grants, spans, stats: bucket.stats }));
redis.disconnect();
probe.disconnect();
