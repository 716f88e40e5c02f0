import { Scheduler } from '@mcp-concurrency/core-scheduler';
import { TokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpPool } from './http-pool.js';
import { httpTool } from './http-tool.js';
import { parseRetryAfter } from './response.js';
import { startMockServer, type MockServer } from './testing/mock-server.js';

let server: MockServer;
beforeAll(async () => {
  server = await startMockServer();
});
afterAll(async () => {
  await server.close();
});

const local = (options: ConstructorParameters<typeof HttpPool>[0] = {}): HttpPool => new HttpPool({ allowPrivateNetwork: true, ...options });

/** The most requests the server saw in progress at once, from its own record. */
function maxOverlap(records: { arrivedAt: number; finishedAt: number | undefined }[]): number {
  const events = records.flatMap((r) => [[r.arrivedAt, 1], [r.finishedAt ?? Infinity, -1]] as [number, number][]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (now += d));
  return most;
}

describe('limits, as the server sees them', () => {
  it('holds the per-origin cap exactly and the global cap across origins', async () => {
    const other = await startMockServer();
    const pool = local({ maxParallel: 6, maxPerOrigin: 4 });
    server.reset();
    const urls = [...Array.from({ length: 30 }, () => `${server.origin}/latency/15`), ...Array.from({ length: 30 }, () => `${other.origin}/latency/15`)];
    const results = await pool.fetchAll(urls);
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(server.maxInFlight).toBe(4);
    expect(other.maxInFlight).toBe(4);
    expect(maxOverlap([...server.requests, ...other.requests])).toBe(6);
    expect(results.map((r) => r.id)).toEqual(urls.map((_, i) => String(i)));
    await pool.close();
    await other.close();
  });

  it('a rate limit below the server\'s gets no 429, and the server sees at most burst + rate * t', async () => {
    // The server allows 20/s with a burst of 10; we send 15/s with a burst of 5. The server's larger burst
    // absorbs arrivals bunched by a busy machine (up to 250 ms of bunching) without a 429.
    const limited = await startMockServer({ rateLimit: { rate: 20, burst: 10 } });
    const granted = new Map<string, number>();
    const pool = local({
      rateLimits: { [limited.origin]: new TokenBucket({ rate: 15, burst: 5 }) },
      observers: [{ onStart: (call) => void granted.set(String(call.id), performance.timeOrigin + performance.now()) }],
    });
    const results = await pool.fetchAll(Array.from({ length: 30 }, (_, i) => ({ url: `${limited.url}?n=${i}` })));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(limited.requests.filter((r) => r.status === 429)).toEqual([]);
    // The server's record, with a slack derived from this run: how much later than its grant each request
    // arrived varies, and the spread can bunch arrivals by that much.
    const delays = limited.requests.map((r) => r.arrivedAt - granted.get(new URL(r.path, 'http://x').searchParams.get('n')!)!);
    const bunching = Math.max(...delays) - Math.min(...delays);
    const slack = 1 + (15 * bunching) / 1000;
    const times = limited.requests.map((r) => r.arrivedAt).sort((a, b) => a - b);
    for (let i = 0; i < times.length; i++) {
      for (let j = i; j < times.length; j++) expect(j - i + 1).toBeLessThanOrEqual(5 + (15 * (times[j]! - times[i]!)) / 1000 + slack);
    }
    await pool.close();
    await limited.close();
  });

  it('a 429 throttles the origin\'s limiter, and retries honour Retry-After until everything succeeds', async () => {
    const limited = await startMockServer({ rateLimit: { rate: 10, burst: 2 } });
    const bucket = new TokenBucket({ rate: 100, burst: 10 });
    const pool = local({ rateLimits: { [limited.origin]: bucket }, retry: { retries: 5, minDelayMs: 10 } });
    const results = await pool.fetchAll(Array.from({ length: 6 }, () => limited.url));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    const refused = limited.requests.filter((r) => r.status === 429).length;
    expect(refused).toBeGreaterThan(0);
    // Without the throttle, 100/s against 10/s would draw dozens of 429s; the Retry-After debt keeps it to a few.
    expect(refused).toBeLessThanOrEqual(8);
    await pool.close();
    await limited.close();
  });
});

describe('deadlines and cancellation', () => {
  it('an aborted call closes its request on the server side', async () => {
    const pool = local();
    server.reset();
    const controller = new AbortController();
    const pending = pool.fetchAll([`${server.origin}/latency/5000`], { signal: controller.signal });
    await vi.waitFor(() => expect(server.inFlight).toBe(1));
    controller.abort();
    expect((await pending)[0]).toMatchObject({ status: 'cancelled' });
    await vi.waitFor(() => expect(server.requests[0]!.aborted).toBe(true), { timeout: 1_000 });
    await pool.close();
  });

  it('the call deadline includes time queued behind the origin cap', async () => {
    const pool = local({ maxPerOrigin: 1 });
    server.reset();
    const [slow, queued] = await pool.fetchAll([`${server.origin}/latency/300`, { url: `${server.origin}/never`, timeoutMs: 100 }]);
    expect(slow!.status).toBe('ok');
    expect(queued).toMatchObject({ status: 'timeout', error: { code: 'timeout' }, attempts: 0 });
    expect(server.requests.map((r) => r.path)).toEqual(['/latency/300']);
    await pool.close();
  });

  it('a headers timeout is a timeout, the request aborted on the server', async () => {
    const pool = local({ headersTimeoutMs: 50, retry: 0 });
    server.reset();
    await expect(pool.request(`${server.origin}/latency/2000`)).rejects.toMatchObject({ code: 'timeout', message: expect.stringContaining('UND_ERR_HEADERS_TIMEOUT') });
    await vi.waitFor(() => expect(server.requests[0]!.aborted).toBe(true), { timeout: 1_000 });
    await pool.close();
  });
});

describe('retries', () => {
  it('retries idempotent requests on 503 and resets; not POST; the deadline covers Retry-After waits', async () => {
    const pool = local({ retry: { retries: 3, minDelayMs: 5 } });
    server.reset();
    const results = await pool.fetchAll([
      `${server.origin}/flaky/2`,
      { url: `${server.origin}/flaky/1?post`, method: 'POST' },
      { url: `${server.origin}/status/503?retry-after=2`, timeoutMs: 300 },
      `${server.origin}/reset`,
    ]);
    expect(results[0]).toMatchObject({ status: 'ok', attempts: 3, value: { body: { attempt: 3 } } });
    expect(results[1]).toMatchObject({ status: 'error', attempts: 1, error: { code: 'http_error', message: expect.stringContaining('HTTP 503') } });
    // Retry-After (2 s) is past the call's deadline (300 ms): the deadline ends the wait.
    expect(results[2]).toMatchObject({ status: 'timeout', attempts: 1, error: { code: 'timeout' } });
    expect(results[3]).toMatchObject({ status: 'error', attempts: 4, error: { code: 'http_error' } });
    expect(server.requests.filter((r) => r.path === '/reset')).toHaveLength(4);
    await pool.close();
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3_000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('responses', () => {
  it('caps the body, decodes JSON only for JSON, and never leaks a socket', async () => {
    const pool = local({ maxBodyBytes: 100_000, retry: 0 });
    server.reset();
    const [declared, endless, text, json] = await pool.fetchAll([
      `${server.origin}/bytes/200000`,
      `${server.origin}/endless`,
      `${server.origin}/bytes/10`,
      `${server.origin}/hello`,
    ]);
    expect(declared!.error).toMatchObject({ code: 'response_too_large', message: expect.stringContaining('declares 200000 bytes') });
    expect(endless!.error).toMatchObject({ code: 'response_too_large' });
    expect(text!.value).toMatchObject({ status: 200, body: 'xxxxxxxxxx', bytes: 10 });
    expect(json!.value).toMatchObject({ body: { ok: true, path: '/hello' } });
    await vi.waitFor(() => expect(server.requests.find((r) => r.path === '/endless')!.aborted).toBe(true));
    await pool.close();
  });

  it('injectHeaders adds headers (trace context) to each request, in the caller\'s context; a throwing hook fails nothing', async () => {
    let n = 0;
    const pool = local({ retry: 0, injectHeaders: (headers) => void (headers.traceparent = `00-${'a'.repeat(32)}-${String(++n).padStart(16, '0')}-01`) });
    const [a, b] = await pool.fetchAll([`${server.origin}/echo`, { url: `${server.origin}/echo`, headers: { 'x-own': '1' } }]);
    const seen = (r: typeof a) => (r!.value!.body as { headers: Record<string, string> }).headers;
    expect([seen(a).traceparent, seen(b).traceparent].sort()).toEqual([1, 2].map((i) => `00-${'a'.repeat(32)}-${String(i).padStart(16, '0')}-01`));
    expect(seen(b)['x-own']).toBe('1');
    await pool.close();
    const throwing = local({ retry: 0, injectHeaders: () => { throw new Error('tracer bug'); } });
    expect((await throwing.request(`${server.origin}/echo`)).status).toBe(200);
    await throwing.close();
    expect(() => local({ injectHeaders: 'x' as never })).toThrow(/`injectHeaders`/);
  });

  it('thousands of requests reuse at most `connections` sockets, all closed by close()', async () => {
    const busy = await startMockServer();
    const pool = local({ connections: 8, maxParallel: 64 });
    const results = await pool.fetchAll(Array.from({ length: 3_000 }, (_, i) => (i % 10 === 0 ? `${busy.origin}/status/500` : busy.url)));
    expect(results.filter((r) => r.status === 'ok')).toHaveLength(2_700);
    expect(busy.connectionsAccepted).toBeLessThanOrEqual(8);
    expect(busy.openConnections).toBeLessThanOrEqual(8);
    const stats = pool.stats();
    expect(stats.origins[busy.origin]).toMatchObject({ running: 0, pending: 0 });
    await pool.close();
    await vi.waitFor(() => expect(busy.openConnections).toBe(0));
    await busy.close();
  });
});

describe('SSRF guards', () => {
  it('an allow-list refuses other origins; allowPrivateNetwork lets trusted setups reach loopback', async () => {
    const pool = local({ allowOrigins: ['http://*.example.com', server.origin] });
    await expect(pool.request('http://evil.test/')).rejects.toMatchObject({ code: 'forbidden_destination', message: expect.stringContaining('not in the allow-list') });
    expect((await pool.request(server.url)).status).toBe(200);
    await pool.close();
  });
});

describe('httpTool', () => {
  it('fills a URL template from validated arguments; the origin is fixed', async () => {
    const pool = local();
    server.reset();
    const tool = httpTool(pool.client, {
      name: 'echo',
      method: 'POST',
      url: `${server.origin}/echo?q={{q}}`,
      headers: { authorization: 'Bearer from-config' },
      body: { query: '{{q}}', limit: '{{limit}}' },
      parameters: { q: { type: 'string' }, limit: { type: 'integer', required: false } },
    });
    const scheduler = new Scheduler({ tools: [tool] });
    const [ok, bad] = await scheduler.runBatch([{ tool: 'echo', params: { q: 'a b&c', limit: 3 } }, { tool: 'echo', params: { q: 5 } }]);
    expect(server.requests[0]!.path).toBe('/echo?q=a%20b%26c');
    expect(ok!.value).toMatchObject({ body: { method: 'POST', body: '{"query":"a b&c","limit":3}', headers: { authorization: 'Bearer from-config' } } });
    expect(bad!.error).toEqual({ code: 'invalid_params', message: 'Argument "q" must be a string, got number' });
    expect(() => httpTool(pool.client, { name: 'x', url: 'http://{{host}}/a', parameters: { host: { type: 'string' } } })).toThrow("may not appear in the URL's origin");
    expect(() => httpTool(pool.client, { name: 'y', url: 'http://a.test/{{id}}' })).toThrow('{{id}} is not a declared parameter');
    await pool.close();
  });
});
