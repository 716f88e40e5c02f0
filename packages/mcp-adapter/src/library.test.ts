import { fileURLToPath } from 'node:url';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, McpServer, type CallToolResult, type ServerContext } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { measureRoundTrips, redisService } from '@mcp-concurrency/test-services';
import * as z from 'zod';
import { McpFanout } from './client/fanout.js';
import { parseConfig } from './config/load.js';
import { withConcurrency } from './server/wrap-mcp-server.js';

const UPSTREAM = fileURLToPath(new URL('../test/fixtures/upstream.mjs', import.meta.url));
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const text = (r: unknown): string => (r as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

async function linked(server: McpServer): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

describe('withConcurrency on an SDK McpServer', () => {
  it('caps tools registered before and after, aborts on deadline, refuses with a readable error', async () => {
    const server = new McpServer({ name: 'wrapped', version: '1.0.0' });
    let running = 0;
    let most = 0;
    let aborted = 0;
    const work = async ({ ms }: { ms: number }, ctx: ServerContext): Promise<CallToolResult> => {
      most = Math.max(most, ++running);
      try {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          ctx.mcpReq.signal.addEventListener('abort', () => {
            clearTimeout(t);
            aborted++;
            reject(new Error('aborted'));
          });
        });
        return { content: [{ type: 'text', text: `slept ${ms}` }] };
      } finally {
        running--;
      }
    };
    server.registerTool('before', { inputSchema: z.object({ ms: z.number() }) }, work);
    withConcurrency(server, { maxParallel: 10, maxQueued: 4, policies: { 'bef*': { maxParallel: 2 }, after: { maxParallel: 1, timeoutMs: 50 } } });
    server.registerTool('after', { inputSchema: z.object({ ms: z.number() }) }, work);
    const client = await linked(server);

    const results = await Promise.all(Array.from({ length: 6 }, () => client.callTool({ name: 'before', arguments: { ms: 20 } })));
    expect(results.map((r) => r.isError === true).filter(Boolean)).toHaveLength(0);
    expect(most).toBe(2);

    const timedOut = await client.callTool({ name: 'after', arguments: { ms: 5_000 } });
    expect(timedOut.isError).toBe(true);
    expect(JSON.parse(text(timedOut))).toMatchObject({ error: { code: 'timeout' } });
    await delay(10);
    expect(aborted).toBe(1);

    // Load shedding: 1 running + 4 queued, the rest refused at once with queue_full.
    const flood = await Promise.all(Array.from({ length: 8 }, () => client.callTool({ name: 'before', arguments: { ms: 30 } })));
    const codes = flood.map((r) => (r.isError ? (JSON.parse(text(r)) as { error: { code: string } }).error.code : 'ok'));
    expect(codes.filter((c) => c === 'queue_full').length).toBeGreaterThanOrEqual(2);
    expect(codes.filter((c) => c === 'ok').length).toBeGreaterThanOrEqual(5);
    await client.close();
  });
});

describe('McpFanout (client side)', () => {
  it('runs a model\'s calls across servers: prefixes collisions, keeps call order, OpenAI and Anthropic shapes', async () => {
    const fanout = await McpFanout.connect({
      servers: { one: { command: process.execPath, args: [UPSTREAM] }, two: { command: process.execPath, args: [UPSTREAM] } },
      budgetPerServer: 2,
    });
    expect(fanout.tools.map((t) => t.name).sort()).toEqual(['add_tool', 'ask', 'echo', 'in_region', 'log_and_wait', 'progressing', 'slow_search', 'touch', 'two_questions'].flatMap((n) => [`one__${n}`, `two__${n}`]).sort());
    expect(fanout.openAITools()[0]).toMatchObject({ type: 'function', function: { parameters: { type: 'object' } } });

    const results = await fanout.run([
      { id: 'call_1', type: 'function', function: { name: 'one__echo', arguments: '{"text":"hi"}' } },
      { type: 'tool_use', id: 'toolu_2', name: 'two__slow_search', input: { ms: 30 } },
      { id: 'call_3', type: 'function', function: { name: 'one__echo', arguments: '{not json' } },
      { id: 'call_4', type: 'function', function: { name: 'nope', arguments: '{}' } },
      { id: 'x', name: 'one__echo', arguments: { text: 'after' }, dependsOn: ['toolu_2'] },
    ]);
    expect(results.map((r) => [r.id, r.isError])).toEqual([['call_1', false], ['toolu_2', false], ['call_3', true], ['call_4', true], ['x', false]]);
    expect(results[0]!.content).toBe('hi');
    expect(JSON.parse(results[2]!.content)).toMatchObject({ error: { code: 'invalid_params' } });
    expect(JSON.parse(results[3]!.content)).toMatchObject({ error: { code: 'unknown_tool' } });
    expect(McpFanout.toOpenAIMessages(results)[0]).toEqual({ role: 'tool', tool_call_id: 'call_1', content: 'hi' });
    expect(McpFanout.toAnthropicBlocks(results)[1]).toEqual({ type: 'tool_result', tool_use_id: 'toolu_2', content: '{"slept":30}', is_error: false });
    await fanout.close();
  });

  it('progress resets the deadline, up to the hard cap', async () => {
    // Progress comes every 40 ms; the idle deadline is 25 times that, so a busy machine's late timer does not
    // fire it, and the hard cap leaves the 2.5 s call more than as much again.
    const fanout = await McpFanout.connect({ servers: { up: { command: process.execPath, args: [UPSTREAM] } }, timeoutMs: 1_000, maxTotalTimeoutMs: 6_000 });
    const [kept, capped] = await fanout.run([
      { id: 'kept', name: 'progressing', arguments: { ms: 2_500 } }, // longer than 1 s, but progress keeps it alive
      { id: 'capped', name: 'progressing', arguments: { ms: 30_000 } }, // progress all along, but past the 6 s cap
    ]);
    expect(kept!.isError).toBe(false);
    expect(kept!.content).toMatch(/^done after \d+ steps$/);
    expect(JSON.parse(capped!.content)).toMatchObject({ error: { code: 'timeout' } });
    await fanout.close();
  });

  it('reaches a server over Streamable HTTP too', async () => {
    const { serveHttp } = await import('./server/serve.js');
    const serving = await serveHttp(() => {
      const server = new McpServer({ name: 'web', version: '1.0.0' });
      server.registerTool('shout', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text: text.toUpperCase() }] }));
      return server;
    });
    const fanout = await McpFanout.connect({ servers: { web: { url: serving.url }, local: { command: process.execPath, args: [UPSTREAM] } } });
    const results = await fanout.run([
      { id: '1', name: 'shout', arguments: { text: 'over http' } },
      { id: '2', name: 'echo', arguments: { text: 'over stdio' } },
    ]);
    expect(results.map((r) => r.content)).toEqual(['OVER HTTP', 'over stdio']);
    await fanout.close();
    await serving.close();
  });

  it('close() lets a running call finish and refuses later ones with closed; destroy() cancels now', async () => {
    const fanout = await McpFanout.connect({ servers: { up: { command: process.execPath, args: [UPSTREAM] } } });
    const running = fanout.run([{ id: 'a', name: 'slow_search', arguments: { ms: 300 } }]);
    await delay(100);
    const closing = fanout.close({ graceMs: 10_000 });
    const [late] = await fanout.run([{ id: 'b', name: 'echo', arguments: { text: 'late' } }]);
    expect(late!.result).toMatchObject({ status: 'rejected', error: { code: 'closed' } });
    expect((await running)[0]!.content).toBe('{"slept":300}');
    await closing;
    expect(fanout.close()).toBe(closing); // idempotent

    const other = await McpFanout.connect({ servers: { up: { command: process.execPath, args: [UPSTREAM] } } });
    const cut = other.run([{ id: 'c', name: 'slow_search', arguments: { ms: 10_000 } }]);
    await delay(100);
    await other.destroy(new Error('going away'));
    expect((await cut)[0]!.result.status).toBe('cancelled');
  });

  it('a deadline cancels the call on the server', async () => {
    const fanout = await McpFanout.connect({ servers: { up: { command: process.execPath, args: [UPSTREAM] } }, timeoutMs: 100 });
    const [result] = await fanout.run([{ id: 'a', name: 'slow_search', arguments: { ms: 10_000 } }]);
    expect(result).toMatchObject({ isError: true });
    expect(JSON.parse(result!.content)).toMatchObject({ error: { code: 'timeout' } });
    const [after] = await fanout.run([{ id: 'b', name: 'echo', arguments: { text: 'alive' } }]);
    expect(after!.content).toBe('alive');
    await fanout.close();
  });
});

const redis = redisService();

describe.skipIf(redis.url === undefined)(`rate limits shared by replicas on Redis (${redis.skipReason ?? 'REDIS_URL'})`, () => {
  it('two servers with the same redis_url share one budget', async () => {
    const { ToolRuntime } = await import('./runtime.js');
    // One token every 2 s, a burst of 2: what replica A takes, replica B cannot have, however slow the machine.
    const yaml = `name: shared-${process.pid}-${Date.now()}\nconcurrency:\n  max_parallel: 10\n  queue_timeout: 300ms\n  redis_url: ${redis.url}\n  rate_limits:\n    api_calls: { requests_per_second: 0.5, burst_size: 2 }\ntools: []\n`;
    const [a, b] = await Promise.all([0, 1].map(() => ToolRuntime.create(parseConfig(yaml, 'x.yaml', {}))));
    for (const runtime of [a!, b!]) runtime.addTool({ name: 'call_api', description: 'limited', inputSchema: { type: 'object' }, run: async () => 'ok' }, { rateLimit: 'api_calls' });
    expect((await Promise.all([a!.call('call_api', {}), a!.call('call_api', {})])).map((r) => r.status)).toEqual(['ok', 'ok']);
    const refused = await b!.call('call_api', {});
    expect(refused.status).not.toBe('ok');
    expect(refused.error?.code).toMatch(/rate_limited|queue_timeout/);
    await Promise.all([a!.close(), b!.close()]);
  });

  it('replicas on one redis_url hold burst + rate * t together', async () => {
    const { ToolRuntime } = await import('./runtime.js');
    const yaml = `name: window-${process.pid}-${Date.now()}\nconcurrency:\n  max_parallel: 10\n  redis_url: ${redis.url}\n  rate_limits:\n    api_calls: { requests_per_second: 10, burst_size: 2 }\ntools: []\n`;
    const replicas = await Promise.all([0, 1].map(() => ToolRuntime.create(parseConfig(yaml, 'x.yaml', {}))));
    const starts: number[] = [];
    for (const runtime of replicas) {
      runtime.addTool({ name: 'call_api', description: 'limited', inputSchema: { type: 'object' }, run: async () => void starts.push(performance.now()) }, { rateLimit: 'api_calls' });
    }
    // Round trips to Redis measured beside the calls: a start is seen up to one round trip after Redis
    // granted it, so the slack is derived from the longest one this run saw (one token at the least).
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url!);
    const measuring = measureRoundTrips(() => probe.ping());
    const results = await Promise.all(replicas.flatMap((runtime) => Array.from({ length: 6 }, () => runtime.call('call_api', {}))));
    const trips = await measuring.stop();
    probe.disconnect();
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    starts.sort((x, y) => x - y);
    const slack = 1 + (2 * 10 * Math.max(...trips)) / 1000;
    for (let i = 0; i < starts.length; i++) {
      for (let j = i; j < starts.length; j++) expect(j - i + 1).toBeLessThanOrEqual(2 + (10 * (starts[j]! - starts[i]!)) / 1000 + slack);
    }
    await Promise.all(replicas.map((r) => r.close()));
  });
});

describe('destructive tools, one call per resource', () => {
  it('serialises calls on the same resource and lets different resources run together', async () => {
    const { ToolRuntime } = await import('./runtime.js');
    const config = parseConfig('name: x\nconcurrency:\n  max_parallel: 10\ntools: []\n', 'x.yaml', {});
    const runtime = await ToolRuntime.create(config);
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    runtime.addTool(
      {
        name: 'write_file',
        description: 'writes',
        inputSchema: { type: 'object' },
        run: async (args: unknown) => {
          const path = (args as { path: string }).path;
          running.set(path, (running.get(path) ?? 0) + 1);
          most.set(path, Math.max(most.get(path) ?? 0, running.get(path)!));
          await delay(15);
          running.set(path, running.get(path)! - 1);
          return 'ok';
        },
      },
      { annotations: { destructiveHint: true, resourceArgument: 'path' } },
    );
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => runtime.call('write_file', { path: i % 3 === 0 ? 'a.txt' : i % 3 === 1 ? 'b.txt' : 'c.txt' })));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(Object.fromEntries(most)).toEqual({ 'a.txt': 1, 'b.txt': 1, 'c.txt': 1 });
    expect(Math.max(...[...most.values()])).toBe(1);
    await runtime.close();
  });
});

describe('config details', () => {
  it('substitutes ${VAR} from the environment, and names a missing one', () => {
    const yaml = 'name: x\ntools:\n  - name: t\n    http:\n      url: https://api.example.com/x\n      headers: { authorization: "Bearer ${API_TOKEN}" }\n';
    const config = parseConfig(yaml, 'x.yaml', { API_TOKEN: 'abc' });
    expect(config.tools[0]!.run).toMatchObject({ kind: 'http', headers: { authorization: 'Bearer abc' } });
    expect(() => parseConfig(yaml, 'x.yaml', {})).toThrow(/x\.yaml:6:\d+: tools\[0\]\.http\.headers\.authorization: environment variable API_TOKEN is not set/);
  });

  it.each([
    ['retry on a tool not marked idempotent', 'name: x\ntools:\n  - name: t\n    retry: 2\n    script: { command: echo }\n', 'x.yaml:4:12: tools[0].retry: retries need annotations.idempotentHint: true'],
    ['a sql tool without a database', 'name: x\ntools:\n  - name: t\n    sql: { query: "select 1" }\n', 'tools[0].sql: a sql tool needs a top-level database.url'],
    ['two kinds', 'name: x\ntools:\n  - name: t\n    sql: { query: "select 1" }\n    script: { command: echo }\n', 'exactly one of script, http, sql or worker, got script and sql'],
    ['a duplicate tool', 'name: x\ntools:\n  - name: t\n    script: { command: a }\n  - name: t\n    script: { command: b }\n', 'x.yaml:5:11: tools[1].name: duplicate tool name "t" (also tools[0])'],
    ['an unknown key', 'name: x\ntools: []\nconcurency: {}\n', 'unknown property "concurency"'],
  ])('%s', (_name, yaml, message) => {
    expect(() => parseConfig(yaml, 'x.yaml', {})).toThrow(McpConcurrencyError);
    expect(() => parseConfig(yaml, 'x.yaml', {})).toThrow(message);
  });
});
