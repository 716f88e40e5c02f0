import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { redisService } from '@mcp-concurrency/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from './config/load.js';
import { ToolRuntime } from './runtime.js';
import { createMcpServer } from './server/mcp-server.js';

/** One scripted answer: a status and, optionally, a Retry-After header (seconds, or an HTTP date built at answer time). */
type Answer = { status: number; retryAfter?: string | (() => string); latencyMs?: number };

interface Seen {
  readonly path: string;
  /** Date.now() on the server: arrivals and answers compared on one clock. */
  readonly arrivedAt: number;
  answeredAt: number;
  status: number;
  /** The Retry-After deadline the server asked for, as epoch ms. */
  notBefore: number | undefined;
}

/** A server whose answers per path follow a script (then 200), with its own record of every request. */
let server: Server;
let origin: string;
const scripts = new Map<string, Answer[]>();
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const entry: Seen = { path, arrivedAt: Date.now(), answeredAt: 0, status: 200, notBefore: undefined };
    seen.push(entry);
    const answer = scripts.get(path)?.shift() ?? { status: 200 };
    const respond = (): void => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (answer.retryAfter !== undefined) {
        const value = typeof answer.retryAfter === 'function' ? answer.retryAfter() : answer.retryAfter;
        headers['retry-after'] = value;
        entry.notBefore = /^\d+$/.test(value) ? Date.now() + Number(value) * 1000 : Date.parse(value);
      }
      entry.status = answer.status;
      entry.answeredAt = Date.now();
      res.writeHead(answer.status, headers).end(JSON.stringify({ path, status: answer.status }));
    };
    if (answer.latencyMs) setTimeout(respond, answer.latencyMs);
    else respond();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A fresh path per test, so tests never read each other's record. */
function script(...answers: Answer[]): string {
  const path = `/${randomUUID()}`;
  scripts.set(path, answers);
  return path;
}
const record = (path: string): Seen[] => seen.filter((s) => s.path === path);

/** An HTTP date a whole second ahead, so `Date.parse` of the header is exact. */
const dateAhead = (ms: number): string => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toUTCString();

function yaml(tools: string, extra = ''): string {
  return `name: http-${randomUUID()}
concurrency:
  max_parallel: 10
${extra}
http: { allow_private_network: true }
tools:
${tools}`;
}

async function runtimeFor(text: string): Promise<ToolRuntime> {
  return ToolRuntime.create(parseConfig(text, 'http.yaml', {}));
}

describe('YAML http tools: retries belong to the tool policy', () => {
  it('an idempotent tool with retry: 3 gets past 503, 503 and is answered 200', async () => {
    const path = script({ status: 503, retryAfter: '0' }, { status: 503, retryAfter: '0' });
    const runtime = await runtimeFor(yaml(`  - name: get
    annotations: { idempotentHint: true }
    retry: { retries: 3, min_delay: 5ms }
    http: { url: "${origin}${path}" }`));
    const result = await runtime.call('get', {});
    expect(result).toMatchObject({ status: 'ok', attempts: 3, value: { status: 200, body: { path } } });
    expect(record(path).map((s) => s.status)).toEqual([503, 503, 200]);
    await runtime.close();
  });

  it.each([
    ['seconds', (): string => '1'],
    ['an HTTP date', (): string => dateAhead(1_000)],
  ])('waits for Retry-After as %s before the retry, by the server\'s clock', async (_, retryAfter) => {
    const path = script({ status: 503, retryAfter });
    const runtime = await runtimeFor(yaml(`  - name: get
    annotations: { idempotentHint: true }
    retry: { retries: 2, min_delay: 1ms }
    http: { url: "${origin}${path}" }`));
    const result = await runtime.call('get', {});
    expect(result).toMatchObject({ status: 'ok', attempts: 2 });
    const [first, second] = record(path);
    // The server asked for notBefore; the retry arrived no earlier (timers never fire early in Node;
    // 1 ms is the rounding of Date.now()).
    expect(second!.arrivedAt).toBeGreaterThanOrEqual(first!.notBefore! - 1);
    await runtime.close();
  });

  it('never retries a tool that is not idempotent, nor a POST even when the tool is', async () => {
    const plain = script({ status: 503, retryAfter: '0' });
    const post = script({ status: 503, retryAfter: '0' });
    const runtime = await runtimeFor(yaml(`  - name: plain
    http: { url: "${origin}${plain}" }
  - name: post
    annotations: { idempotentHint: true }
    retry: 3
    http: { url: "${origin}${post}", method: POST }`));
    const [a, b] = await Promise.all([runtime.call('plain', {}), runtime.call('post', {})]);
    // The GET's error says it may be retried; the tool's policy (no idempotentHint) decides not to.
    expect(a).toMatchObject({ status: 'error', attempts: 1, error: { code: 'http_error', retryable: true, retryAfterMs: 0 } });
    expect(b).toMatchObject({ status: 'error', attempts: 1, error: { code: 'http_error', retryAfterMs: 0 } });
    expect(b.error!.retryable).toBeUndefined();
    expect(record(plain)).toHaveLength(1);
    expect(record(post)).toHaveLength(1);
    await runtime.close();
  });
});

const redis = redisService();

async function throttledByRetryAfter(extra: string): Promise<void> {
  const path = script({ status: 429, retryAfter: '1' });
  const runtime = await runtimeFor(
    yaml(
      `  - name: get
    rate_limit: api
    http: { url: "${origin}${path}" }`,
      `  rate_limits:\n    api: { requests_per_second: 50, burst_size: 5 }\n${extra}`,
    ),
  );
  const refused = await runtime.call('get', {});
  expect(refused).toMatchObject({ status: 'error', error: { code: 'http_error', retryAfterMs: 1_000 } });
  // Without the throttle, 50/s with a burst of 5 would let these four through at once.
  const later = await Promise.all([1, 2, 3, 4].map(() => runtime.call('get', {})));
  expect(later.every((r) => r.status === 'ok')).toBe(true);
  const [first, ...rest] = record(path);
  expect(rest).toHaveLength(4);
  for (const s of rest) expect(s.arrivedAt).toBeGreaterThanOrEqual(first!.notBefore! - 1);
  await runtime.close();
}

describe('a 429 with Retry-After slows the YAML rate limiter, by the server\'s own record', () => {
  it('in process', () => throttledByRetryAfter(''));
});

describe.skipIf(redis.url === undefined)(`a 429 with Retry-After slows the YAML rate limiter on Redis (${redis.skipReason ?? 'REDIS_URL'})`, () => {
  it('on Redis, shared by every replica', () => throttledByRetryAfter(`  redis_url: ${redis.url}`));
});

describe('one deadline per call, through the MCP server', () => {
  async function connect(runtime: ToolRuntime): Promise<Client> {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await createMcpServer(runtime).connect(serverSide);
    const client = new Client({ name: 'deadline-test', version: '1.0.0' });
    await client.connect(clientSide);
    return client;
  }
  const errorOf = (r: unknown): { code: string; message: string } => (JSON.parse((r as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('')) as { error: { code: string; message: string } }).error;

  it('covers the wait for Retry-After: a retry that would start past the deadline never does', async () => {
    const path = script({ status: 503, retryAfter: '2' });
    const runtime = await runtimeFor(yaml(`  - name: get
    timeout: 300ms
    annotations: { idempotentHint: true }
    retry: 5
    http: { url: "${origin}${path}" }`));
    const client = await connect(runtime);
    const result = await client.callTool({ name: 'get', arguments: {} });
    expect(result.isError).toBe(true);
    expect(errorOf(result)).toMatchObject({ code: 'timeout', message: expect.stringContaining('300 ms') });
    expect(record(path)).toHaveLength(1);
    await client.close();
    await runtime.close();
  });

  it('covers queue time: a call queued behind a slow one times out without reaching the server', async () => {
    const slow = script({ status: 200, latencyMs: 400 });
    const queued = script();
    const runtime = await runtimeFor(
      yaml(`  - name: slow
    http: { url: "${origin}${slow}" }
  - name: quick
    timeout: 150ms
    http: { url: "${origin}${queued}" }`).replace('max_parallel: 10', 'max_parallel: 1'),
    );
    const client = await connect(runtime);
    const first = client.callTool({ name: 'slow', arguments: {} });
    while (record(slow).length === 0) await new Promise((r) => setTimeout(r, 5));
    const second = await client.callTool({ name: 'quick', arguments: {} });
    expect(errorOf(second)).toMatchObject({ code: 'timeout' });
    expect((await first).isError).toBeFalsy();
    expect(record(queued)).toHaveLength(0);
    await client.close();
    await runtime.close();
  });
});
