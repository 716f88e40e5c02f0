#!/usr/bin/env node
// The parallel_fetch tool of gantz.yaml: reads `{ "urls": [...] }` as JSON on stdin and prints, as JSON, one
// result per URL in the same order: `{ url, status, ok, bytes, contentType }` or `{ url, error, code }`.
//
// It fetches through @mcp-concurrency/pool-http, so the URLs a language model chose get the same guards as
// an http tool: only http(s), no private, loopback or link-local destinations (even through DNS), at most
// 8 requests at once, 10 s per URL, 1 MiB per body. PARALLEL_FETCH_ALLOW_PRIVATE_NETWORK=1 in the server's
// environment lifts the private-network guard, for trying it against a server on this machine.
import { HttpPool } from '@mcp-concurrency/pool-http';

const MAX_URLS = 50;

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

const { urls } = await readStdin();
if (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string')) {
  process.stderr.write('urls must be an array of strings\n');
  process.exit(2);
}
if (urls.length > MAX_URLS) {
  process.stderr.write(`at most ${MAX_URLS} urls per call, got ${urls.length}\n`);
  process.exit(2);
}

const pool = new HttpPool({
  maxParallel: 8,
  timeoutMs: 10_000,
  maxBodyBytes: 1024 * 1024,
  allowPrivateNetwork: process.env.PARALLEL_FETCH_ALLOW_PRIVATE_NETWORK === '1',
});
// SIGTERM (the call's deadline or cancellation) stops the requests in flight.
process.once('SIGTERM', () => void pool.destroy().finally(() => process.exit(143)));
try {
  const results = await pool.fetchAll(urls.map((url) => ({ url, responseType: 'buffer' })));
  const out = results.map((r, i) =>
    r.status === 'ok'
      ? { url: urls[i], status: r.value.status, ok: r.value.status < 400, bytes: r.value.bytes, contentType: r.value.headers['content-type'] ?? null }
      : { url: urls[i], error: r.error?.message ?? r.status, code: r.error?.code ?? r.status },
  );
  process.stdout.write(JSON.stringify(out));
} finally {
  await pool.close();
}
