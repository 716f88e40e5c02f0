import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult, type LoggingMessageNotification } from '@modelcontextprotocol/client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ToolRuntime } from '../runtime.js';
import { serveHttp, type Serving } from '../server/serve.js';
import { McpProxy } from './proxy.js';

// Multi-round-trip requests (MCP 2026-07-28, SEP-2322) through the proxy: the upstream's `two_questions`
// answers `input_required` twice (a name, then a colour) with a plain-string requestState.
const UPSTREAM = fileURLToPath(new URL('../../test/fixtures/upstream.mjs', import.meta.url));
const text = (r: unknown): string => (r as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

interface Proxied {
  readonly proxy: McpProxy;
  readonly serving: Serving;
}
const opened: Proxied[] = [];
const clients: Client[] = [];

/** A proxy over HTTP in front of the stdio upstream; `era: 'modern'` makes the upstream refuse `initialize`. */
async function proxied(era: 'both' | 'modern'): Promise<Proxied> {
  const runtime = await ToolRuntime.create(parseConfig(`name: mrtr-${era}\ntools: []\n`, 'mrtr.yaml', {}));
  const env: Record<string, string> = era === 'modern' ? { UPSTREAM_ERA: 'modern' } : {};
  const proxy = await McpProxy.connect(runtime, { upstream: { command: process.execPath, args: [UPSTREAM], env } });
  const serving = await serveHttp(proxy.factory);
  const result = { proxy, serving };
  opened.push(result);
  return result;
}

/** A client that answers every elicitation with `answer(message)` and records the messages it was asked. */
async function client(url: string, era: 'legacy' | '2026-07-28', answer: (message: string) => string, asked: string[]): Promise<Client> {
  const c = new Client({ name: `mrtr-${era}`, version: '1' }, { capabilities: { elicitation: { form: {} } }, ...(era === '2026-07-28' ? { versionNegotiation: { mode: { pin: era } } } : {}) });
  c.setRequestHandler('elicitation/create', async (request) => {
    const message = (request.params as { message: string }).message;
    asked.push(message);
    return { action: 'accept', content: { name: answer(message) } };
  });
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.push(c);
  expect(c.getProtocolEra()).toBe(era === 'legacy' ? 'legacy' : 'modern');
  return c;
}

const answers = (name: string, colour: string) => (message: string) => (message.endsWith('your name?') ? name : colour);

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
});
afterAll(async () => {
  for (const { proxy, serving } of opened) {
    await serving.close({ graceMs: 0 });
    await proxy.close({ graceMs: 0 });
  }
});

describe('multi-round-trip requests through the proxy (SEP-2322)', () => {
  it('a 2026-07-28 client to a 2026-07-28 upstream: the input_required results reach it unchanged, its retries reach the upstream', async () => {
    const { serving, proxy } = await proxied('both');
    expect(proxy.upstreamEra).toBe('modern');
    const asked: string[] = [];
    const modern = await client(serving.url, '2026-07-28', answers('Ada', 'green'), asked);
    // By hand: the first round as the upstream wrote it, requestState byte for byte.
    const first = await modern.request({ method: 'tools/call', params: { name: 'two_questions', arguments: { who: 'a' } } }, { allowInputRequired: true });
    expect(first).toMatchObject({ resultType: 'input_required', requestState: 'round1:a', inputRequests: { name: { method: 'elicitation/create', params: { message: 'a: your name?' } } } });
    const second = await modern.request(
      { method: 'tools/call', params: { name: 'two_questions', arguments: { who: 'a' }, inputResponses: { name: { action: 'accept', content: { name: 'Ada' } } }, requestState: 'round1:a' } },
      { allowInputRequired: true },
    );
    expect(second).toMatchObject({ resultType: 'input_required', requestState: 'round2:a:Ada', inputRequests: { colour: { params: { message: 'a: your colour?' } } } });
    expect(asked).toEqual([]);
    // The SDK client's own driver: both rounds answered by its elicitation handler.
    expect(text(await modern.callTool({ name: 'two_questions', arguments: { who: 'b' } }))).toBe('Ada likes green');
    expect(asked).toEqual(['b: your name?', 'b: your colour?']);
  });

  it('a 2026-07-28 client that did not declare elicitation gets the upstream error -32021, not a question', async () => {
    const { serving } = await proxied('both');
    const bare = new Client({ name: 'bare', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await bare.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
    clients.push(bare);
    await expect(bare.callTool({ name: 'two_questions', arguments: { who: 'c' } })).rejects.toMatchObject({ code: -32021 });
  });

  it('a 2025-11-25 client to a 2026-07-28-only upstream: bridged, each round arrives as an elicitation/create request', async () => {
    const { serving, proxy } = await proxied('modern');
    expect(proxy.upstreamEra).toBe('modern');
    const asked: string[] = [];
    const legacy = await client(serving.url, 'legacy', answers('Grace', 'blue'), asked);
    expect(text(await legacy.callTool({ name: 'two_questions', arguments: { who: 'd' } }))).toBe('Grace likes blue');
    expect(asked).toEqual(['d: your name?', 'd: your colour?']);
  });

  it.each(['2026-07-28', 'legacy'] as const)('two %s clients at once see only their own input requests', async (era) => {
    const { serving } = await proxied(era === 'legacy' ? 'modern' : 'both');
    const asked = { one: [] as string[], two: [] as string[] };
    const one = await client(serving.url, era, answers('One', 'red'), asked.one);
    const two = await client(serving.url, era, answers('Two', 'teal'), asked.two);
    const results = await Promise.all([
      ...[1, 2, 3].map((i) => one.callTool({ name: 'two_questions', arguments: { who: `one-${i}` } })),
      ...[1, 2, 3].map((i) => two.callTool({ name: 'two_questions', arguments: { who: `two-${i}` } })),
    ]);
    expect(results.map(text)).toEqual([...Array(3).fill('One likes red'), ...Array(3).fill('Two likes teal')]);
    expect(asked.one.sort()).toEqual([1, 2, 3].flatMap((i) => [`one-${i}: your colour?`, `one-${i}: your name?`]).sort());
    expect(asked.two.sort()).toEqual([1, 2, 3].flatMap((i) => [`two-${i}: your colour?`, `two-${i}: your name?`]).sort());
  });
});

describe('custom headers of a 2026-07-28 tools/call (SEP-2243)', () => {
  /** A raw 2026-07-28 `tools/call` of `in_region` with `region` in the body and `header` as Mcp-Param-Region (or none). */
  async function callInRegion(url: string, region: string, header: string | undefined): Promise<{ status: number; body: { result?: CallToolResult; error?: { code: number } } }> {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'in_region',
        ...(header === undefined ? {} : { 'mcp-param-region': header }),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: {
          name: 'in_region',
          arguments: { region },
          _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
        },
      }),
    });
    const raw = await response.text();
    const data = response.headers.get('content-type')?.includes('text/event-stream') ? raw.split('\n').find((l) => l.startsWith('data:'))!.slice(5) : raw;
    return { status: response.status, body: JSON.parse(data) as { result?: CallToolResult; error?: { code: number } } };
  }

  it('a header that agrees with the argument passes, a missing, different or badly encoded one is refused with 400 / -32020', async () => {
    const { serving } = await proxied('both');
    const ok = await callInRegion(serving.url, 'eu-west', 'eu-west');
    expect(ok.status).toBe(200);
    expect(text(ok.body.result)).toBe('region eu-west');
    expect(text((await callInRegion(serving.url, 'Hello', '=?base64?SGVsbG8=?=')).body.result)).toBe('region Hello');
    for (const header of [undefined, 'us-east', '=?base64?SGVsbG8?=']) {
      const refused = await callInRegion(serving.url, header === undefined || header === 'us-east' ? 'eu-west' : 'Hello', header);
      expect({ header, status: refused.status, code: refused.body.error?.code }).toEqual({ header, status: 400, code: -32020 });
    }
  });

  it('the SDK client sends the header itself', async () => {
    const { serving } = await proxied('both');
    const modern = await client(serving.url, '2026-07-28', () => '', []);
    await modern.listTools();
    expect(text(await modern.callTool({ name: 'in_region', arguments: { region: 'ap-south' } }))).toBe('region ap-south');
  });
});

describe('log lines of 2026-07-28 requests through the proxy', () => {
  it("the upstream's lines for a request reach that request, at its own level", async () => {
    const { serving } = await proxied('both');
    const heard: string[] = [];
    const c = await client(serving.url, '2026-07-28', () => 'unused', []);
    c.setNotificationHandler('notifications/message', (n: LoggingMessageNotification) => void heard.push(String(n.params.data)));
    await c.callTool({ name: 'log_and_wait', arguments: { tag: 'd' }, _meta: { 'io.modelcontextprotocol/logLevel': 'debug' } });
    expect(heard).toEqual(['d debug', 'd info', 'd notice', 'd warning', 'd error']);
    heard.length = 0;
    await c.callTool({ name: 'log_and_wait', arguments: { tag: 'w' }, _meta: { 'io.modelcontextprotocol/logLevel': 'warning' } });
    expect(heard).toEqual(['w warning', 'w error']);
  });

  it("concurrent requests of two clients: no line reaches the other client (a line that cannot be attributed is dropped)", async () => {
    const { serving } = await proxied('both');
    const heard = { a: [] as string[], b: [] as string[] };
    const a = await client(serving.url, '2026-07-28', () => 'unused', []);
    const b = await client(serving.url, '2026-07-28', () => 'unused', []);
    a.setNotificationHandler('notifications/message', (n: LoggingMessageNotification) => void heard.a.push(String(n.params.data)));
    b.setNotificationHandler('notifications/message', (n: LoggingMessageNotification) => void heard.b.push(String(n.params.data)));
    const debug = { 'io.modelcontextprotocol/logLevel': 'debug' };
    await Promise.all([1, 2, 3].flatMap((i) => [a.callTool({ name: 'log_and_wait', arguments: { tag: `a${i}` }, _meta: debug }), b.callTool({ name: 'log_and_wait', arguments: { tag: `b${i}` }, _meta: debug })]));
    expect(heard.a.every((line) => line.startsWith('a'))).toBe(true);
    expect(heard.b.every((line) => line.startsWith('b'))).toBe(true);
  });
});
