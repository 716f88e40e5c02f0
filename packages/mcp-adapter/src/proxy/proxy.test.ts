import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult, type LoggingMessageNotification } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ToolRuntime } from '../runtime.js';
import { serveHttp, type Serving } from '../server/serve.js';
import { McpProxy } from './proxy.js';

const UPSTREAM = fileURLToPath(new URL('../../test/fixtures/upstream.mjs', import.meta.url));
const text = (r: unknown): string => (r as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

let runtime: ToolRuntime;
let proxy: McpProxy;
let serving: Serving;
const clients: Client[] = [];

beforeAll(async () => {
  runtime = await ToolRuntime.create(parseConfig('name: proxied\nconcurrency:\n  max_parallel: 10\ntools: []\nproxy:\n  tools:\n    - match: "slow_*"\n      concurrency: { max_parallel: 1 }\n', 'proxy.yaml', {}));
  proxy = await McpProxy.connect(runtime, { upstream: { command: process.execPath, args: [UPSTREAM] }, rules: runtime.config.proxyRules });
  serving = await serveHttp(proxy.factory);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await serving.close({ graceMs: 1_000 });
  await proxy.close({ graceMs: 0 });
});

/** A client of the proxy over Streamable HTTP; `elicit` answers elicitations (and declares the capability). */
async function connect(name: string, options: { elicit?: (message: string) => string; era?: 'legacy' | '2026-07-28'; url?: string } = {}): Promise<Client> {
  return (await connectWithTransport(name, options)).client;
}

async function connectWithTransport(name: string, options: { elicit?: (message: string) => string; era?: 'legacy' | '2026-07-28'; url?: string } = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client(
    { name, version: '1.0.0' },
    { capabilities: options.elicit ? { elicitation: { form: {} } } : {}, ...(options.era === '2026-07-28' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}) },
  );
  if (options.elicit) {
    const elicit = options.elicit;
    client.setRequestHandler('elicitation/create', async (request) => ({ action: 'accept', content: { name: elicit(request.params.message) } }));
  }
  const transport = new StreamableHTTPClientTransport(new URL(options.url ?? serving.url));
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}


/** `quiet` (level error) and `loud` (level debug) each hear only their own call's log lines, at their own level. */
async function expectOwnLogLines(quiet: Client, loud: Client): Promise<void> {
    const heard = { quiet: [] as string[], loud: [] as string[] };
    quiet.setNotificationHandler('notifications/message', (n: LoggingMessageNotification) => void heard.quiet.push(String(n.params.data)));
    loud.setNotificationHandler('notifications/message', (n: LoggingMessageNotification) => void heard.loud.push(String(n.params.data)));
    await quiet.setLoggingLevel('error');
    await loud.setLoggingLevel('debug');
    await quiet.callTool({ name: 'log_and_wait', arguments: { tag: 'q' } });
    await loud.callTool({ name: 'log_and_wait', arguments: { tag: 'l' } });
    await vi.waitFor(() => expect(heard.loud).toHaveLength(5));
    expect(heard.quiet).toEqual(['q error']);
    expect(heard.loud).toEqual(['l debug', 'l info', 'l notice', 'l warning', 'l error']);
}

/** `subscriber`'s subscription reaches it alone, through the proxy, until it unsubscribes. */
async function expectOwnSubscription(subscriber: Client, other: Client): Promise<void> {
    const updates = { subscriber: [] as string[], other: [] as string[] };
    subscriber.setNotificationHandler('notifications/resources/updated', (n) => void updates.subscriber.push(n.params.uri));
    other.setNotificationHandler('notifications/resources/updated', (n) => void updates.other.push(n.params.uri));
    await subscriber.subscribeResource({ uri: 'memo://readme' });
    expect(text(await other.callTool({ name: 'touch', arguments: { uri: 'memo://readme' } }))).toBe('nobody subscribed');
    expect(text(await subscriber.callTool({ name: 'touch', arguments: { uri: 'memo://readme' } }))).toBe('notified');
    await vi.waitFor(() => expect(updates.subscriber).toEqual(['memo://readme']));
    expect(updates.other).toEqual([]);
    await subscriber.unsubscribeResource({ uri: 'memo://readme' });
    expect(text(await subscriber.callTool({ name: 'touch', arguments: { uri: 'memo://readme' } }))).toBe('nobody subscribed');
}

describe('the proxy is transparent', () => {
  it('keeps the upstream identity, instructions, capabilities and every field of a tool', async () => {
    const client = await connect('fields');
    expect(client.getServerVersion()).toMatchObject({ name: 'plain-upstream', version: '1.2.3' });
    expect(client.getInstructions()).toBe('Use slow_search for slow searches.');
    expect(client.getServerCapabilities()).toMatchObject({ tools: { listChanged: true }, resources: { subscribe: true }, prompts: {}, completions: {}, logging: {} });
    const { tools } = await client.listTools();
    const echo = tools.find((t) => t.name === 'echo')!;
    expect(echo).toMatchObject({ title: 'Echo', description: 'Echoes', outputSchema: { type: 'object' }, _meta: { 'example.com/kept': true } });
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(result.structuredContent).toEqual({ text: 'hi' });
    await client.ping();
  });

  it('passes resources, templates, prompts and completions through', async () => {
    const client = await connect('content');
    expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(['memo://readme']);
    expect((await client.listResourceTemplates()).resourceTemplates.map((r) => r.uriTemplate)).toEqual(['memo://notes/{id}']);
    expect((await client.readResource({ uri: 'memo://notes/7' })).contents).toEqual([{ uri: 'memo://notes/7', text: 'note 7' }]);
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(['greet']);
    const prompt = await client.getPrompt({ name: 'greet', arguments: { who: 'bob' } });
    expect(prompt.messages[0]!.content).toEqual({ type: 'text', text: 'Say hello to bob' });
    const completion = await client.complete({ ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'who', value: 'al' } });
    expect(completion.completion.values).toEqual(['alice', 'albert']);
  });

  it('an upstream protocol error reaches the client as that same error; non-object arguments are a tool error that says so', async () => {
    const client = await connect('errors');
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toMatchObject({ code: -32602, message: expect.stringContaining('Tool no_such_tool not found') });
    const raw = await fetch(serving.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    const session = raw.headers.get('mcp-session-id')!;
    await raw.text();
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
    await (await fetch(serving.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text();
    const call = await fetch(serving.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: [1, 2] } }) });
    const body = await call.text();
    expect(body).toContain('must be a JSON object, got an array');
    await (await fetch(serving.url, { method: 'DELETE', headers })).text();
  });

  it('relays the upstream progress on the caller token, increasing', async () => {
    const client = await connect('progress');
    const seen: number[] = [];
    const result = await client.callTool({ name: 'progressing', arguments: { ms: 300 } }, { onprogress: (p) => void seen.push(p.progress) });
    expect(text(result)).toMatch(/^done after \d+ steps$/);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
  });
});

describe('isolation: each client has its own upstream session', () => {
  it('two clients with different log levels see only their own lines', async () => {
    const quiet = await connect('quiet');
    const loud = await connect('loud');
    await expectOwnLogLines(quiet, loud);
  });

  it('an elicitation is not lost when the stream of a later request of the same client has gone', async () => {
    // X's question comes while Y, a later request of the same client, is in flight but its response stream
    // has been closed by the client: the question must reach the client all the same.
    const asked: string[] = [];
    const { client, transport } = await connectWithTransport('two-streams', { elicit: (m) => (asked.push(m), 'Xavier') });
    // The first request opens this client's upstream session (a process start): Y is in flight before X's question.
    // (X must reach the proxy first: 150 ms, while the upstream process takes longer than that to start.)
    const x = client.callTool({ name: 'ask', arguments: { question: 'X?' } });
    await new Promise((r) => setTimeout(r, 150));
    const gone = new AbortController();
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': client.getNegotiatedProtocolVersion()! };
    const y = fetch(serving.url, { method: 'POST', headers, signal: gone.signal, body: JSON.stringify({ jsonrpc: '2.0', id: 'y', method: 'tools/call', params: { name: 'slow_search', arguments: { ms: 1_500 } } }) });
    // Y's stream is read up to its first message, then closed: a question put on it is never answered.
    await (await y).body?.getReader().read();
    gone.abort();
    expect(text(await x)).toBe('hello Xavier');
    expect(asked).toEqual(['X?']);
  });

  it('a subscription belongs to the client that made it', async () => {
    const subscriber = await connect('subscriber');
    const other = await connect('other');
    await expectOwnSubscription(subscriber, other);
  });

  it('an elicitation reaches only its caller; a client without the capability gets a clear error', async () => {
    const asked = { alice: [] as string[], bob: [] as string[] };
    const alice = await connect('alice', { elicit: (m) => (asked.alice.push(m), 'Alice') });
    await connect('bob', { elicit: (m) => (asked.bob.push(m), 'Bob') });
    const plain = await connect('plain');
    expect(text(await alice.callTool({ name: 'ask', arguments: { question: 'Who are you?' } }))).toBe('hello Alice');
    expect(asked).toEqual({ alice: ['Who are you?'], bob: [] });
    const refused = await plain.callTool({ name: 'ask', arguments: { question: 'Who?' } });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/elicitation/i);
  });

  it('an upstream session is closed when its client goes away', async () => {
    const before = proxy.sessions;
    const { client, transport } = await connectWithTransport('leaving');
    await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(proxy.sessions).toBe(before + 1);
    await transport.terminateSession(); // DELETE: the client says it is gone (else idle expiry closes it)
    await client.close();
    await vi.waitFor(() => expect(proxy.sessions).toBe(before));
  });
});

describe('isolation through the proxy to an HTTP upstream that also speaks 2026-07-28', () => {
  // The same upstream as above, served over Streamable HTTP (both revisions, one server instance per 2025 session).
  // A 2025-revision client must get its own stateful upstream session here too, not the shared stateless connection.
  let httpUpstream: Serving;
  let httpRuntime: ToolRuntime;
  let httpProxy: McpProxy;
  let httpServing: Serving;
  beforeAll(async () => {
    const { build } = (await import(pathToFileURL(UPSTREAM).href)) as { build: Parameters<typeof serveHttp>[0] };
    httpUpstream = await serveHttp(build);
    httpRuntime = await ToolRuntime.create(parseConfig('name: proxied-http\ntools: []\n', 'proxy-http.yaml', {}));
    httpProxy = await McpProxy.connect(httpRuntime, { upstream: { url: httpUpstream.url } });
    httpServing = await serveHttp(httpProxy.factory);
  });
  afterAll(async () => {
    await httpServing.close({ graceMs: 0 });
    await httpProxy.close({ graceMs: 0 });
    await httpUpstream.close({ graceMs: 0 });
  });

  it('the upstream is found to speak 2026-07-28', () => {
    expect(httpProxy.upstreamEra).toBe('modern');
  });

  it("an upstream's question goes on the stream of the request that caused it, not on an older one of the same client", async () => {
    // Y (older) is in flight, its response stream read up to its first message and then closed; X asks.
    // On Y's stream X's question would be lost (X would hang): it must come on X's own stream.
    const asked: string[] = [];
    const { client, transport } = await connectWithTransport('caused-by-x', { url: httpServing.url, elicit: (m) => (asked.push(m), 'Xena') });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': client.getNegotiatedProtocolVersion()! };
    const gone = new AbortController();
    const y = fetch(httpServing.url, { method: 'POST', headers, signal: gone.signal, body: JSON.stringify({ jsonrpc: '2.0', id: 'y', method: 'tools/call', params: { name: 'slow_search', arguments: { ms: 1_500 } } }) });
    const yRead = y.then(async (response) => {
      await response.body?.getReader().read();
      gone.abort();
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(text(await client.callTool({ name: 'ask', arguments: { question: 'X?' } }))).toBe('hello Xena');
    expect(asked).toEqual(['X?']);
    await yRead.catch(() => undefined);
  });

  it("a 2026-07-28 request's log lines reach it at its own level, and only it", async () => {
    const a = await connect('log-a', { url: httpServing.url, era: '2026-07-28' });
    const b = await connect('log-b', { url: httpServing.url, era: '2026-07-28' });
    const heard = { a: [] as string[], b: [] as string[] };
    a.setNotificationHandler('notifications/message', (n: LoggingMessageNotification) => void heard.a.push(String(n.params.data)));
    b.setNotificationHandler('notifications/message', (n: LoggingMessageNotification) => void heard.b.push(String(n.params.data)));
    // Concurrent: over Streamable HTTP each line comes on its own request's stream, so none is dropped.
    await Promise.all([
      a.callTool({ name: 'log_and_wait', arguments: { tag: 'a' }, _meta: { 'io.modelcontextprotocol/logLevel': 'debug' } }),
      b.callTool({ name: 'log_and_wait', arguments: { tag: 'b' }, _meta: { 'io.modelcontextprotocol/logLevel': 'warning' } }),
    ]);
    expect(heard.a).toEqual(['a debug', 'a info', 'a notice', 'a warning', 'a error']);
    expect(heard.b).toEqual(['b warning', 'b error']);
  });

  it('two clients with different log levels see only their own lines', async () => {
    const quiet = await connect('quiet-http', { url: httpServing.url });
    const loud = await connect('loud-http', { url: httpServing.url });
    await expectOwnLogLines(quiet, loud);
  });

  it('a subscription belongs to the client that made it', async () => {
    const subscriber = await connect('subscriber-http', { url: httpServing.url });
    const other = await connect('other-http', { url: httpServing.url });
    await expectOwnSubscription(subscriber, other);
  });

  it('an elicitation reaches only its caller', async () => {
    const asked = { alice: [] as string[], bob: [] as string[] };
    const alice = await connect('alice-http', { url: httpServing.url, elicit: (m) => (asked.alice.push(m), 'Alice') });
    await connect('bob-http', { url: httpServing.url, elicit: (m) => (asked.bob.push(m), 'Bob') });
    expect(text(await alice.callTool({ name: 'ask', arguments: { question: 'Who are you?' } }))).toBe('hello Alice');
    expect(asked).toEqual({ alice: ['Who are you?'], bob: [] });
  });

  it('a 2026-07-28 client still works over the shared connection', async () => {
    const modern = await connect('modern-http', { url: httpServing.url, era: '2026-07-28' });
    expect(modern.getProtocolEra()).toBe('modern');
    expect(text(await modern.callTool({ name: 'echo', arguments: { text: 'new' } }))).toBe('new');
  });
});

describe('policies and revisions', () => {
  it('applies the rule of the tool and cancels upstream when the caller cancels', async () => {
    const client = await connect('policy');
    const controller = new AbortController();
    const running = client.callTool({ name: 'slow_search', arguments: { ms: 10_000 } }, { signal: controller.signal });
    const progress: string[] = [];
    const queued = client.callTool({ name: 'slow_search', arguments: { ms: 1 } }, { onprogress: (p) => void progress.push(p.message ?? '') });
    await vi.waitFor(() => expect(progress[0]).toMatch(/^queued: waiting for a slot/), { timeout: 5_000 });
    controller.abort();
    await expect(running).rejects.toThrow();
    expect(text(await queued)).toBe('{"slept":1}');
  });

  it('a call that starts at once hears no "queued" progress, nor does an unknown tool', async () => {
    const client = await connect('immediate');
    const progress: unknown[] = [];
    await client.callTool({ name: 'echo', arguments: { text: 'now' } }, { onprogress: (p) => void progress.push(p) });
    await expect(client.callTool({ name: 'nope', arguments: {} }, { onprogress: (p) => void progress.push(p) })).rejects.toMatchObject({ code: -32602 });
    expect(progress).toEqual([]);
  });

  it('serves a 2026-07-28 client on the same endpoint', async () => {
    const client = await connect('modern', { era: '2026-07-28' });
    expect(client.getProtocolEra()).toBe('modern');
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'new' } }))).toBe('new');
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(['greet']);
  });
});

describe('version bridging', () => {
  /** An upstream v2 server over Streamable HTTP (it serves both revisions) whose `wait` records aborts. */
  async function httpUpstream(aborted: string[]): Promise<{ serving: Serving; runtime: ToolRuntime }> {
    const upstreamRuntime = await ToolRuntime.create(parseConfig('name: http-upstream\ntools: []\n', 'up.yaml', {}));
    upstreamRuntime.addTool(
      {
        name: 'wait',
        description: 'waits ms',
        inputSchema: { type: 'object' },
        run: (args: Record<string, unknown>, ctx: { signal: AbortSignal }) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => resolve(`waited ${String(args['ms'])}`), Number(args['ms']));
            ctx.signal.addEventListener('abort', () => (clearTimeout(timer), aborted.push(String(args['tag'])), reject(ctx.signal.reason)), { once: true });
          }),
      },
      {},
    );
    const { createMcpServer } = await import('../server/mcp-server.js');
    return { serving: await serveHttp(() => createMcpServer(upstreamRuntime)), runtime: upstreamRuntime };
  }

  it.each(['legacy', '2026-07-28'] as const)('a %s client through the proxy to a 2026-07-28 upstream: calls, and cancellation reaches the upstream tool', async (era) => {
    const aborted: string[] = [];
    const upstream = await httpUpstream(aborted);
    const bridgeRuntime = await ToolRuntime.create(parseConfig('name: bridge\ntools: []\n', 'bridge.yaml', {}));
    const bridge = await McpProxy.connect(bridgeRuntime, { upstream: { url: upstream.serving.url } });
    expect(bridge.upstreamEra).toBe('modern');
    const bridgeServing = await serveHttp(bridge.factory);
    const client = new Client({ name: `bridge-${era}`, version: '1' }, era === '2026-07-28' ? { versionNegotiation: { mode: { pin: era } } } : {});
    await client.connect(new StreamableHTTPClientTransport(new URL(bridgeServing.url)));
    expect(client.getProtocolEra()).toBe(era === 'legacy' ? 'legacy' : 'modern');
    expect(text(await client.callTool({ name: 'wait', arguments: { ms: 1, tag: 'quick' } }))).toBe('waited 1');
    const controller = new AbortController();
    const pending = client.callTool({ name: 'wait', arguments: { ms: 30_000, tag: era } }, { signal: controller.signal });
    await vi.waitFor(() => expect(upstream.runtime.scheduler.running).toBe(1), { timeout: 5_000 });
    controller.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(aborted).toEqual([era]), { timeout: 5_000 });
    await client.close();
    await bridgeServing.close({ graceMs: 0 });
    await bridge.close({ graceMs: 0 });
    await upstream.serving.close({ graceMs: 0 });
    await upstream.runtime.close();
  });

  it('a 2026-07-28 client through the proxy to a 2025 (stdio) upstream: cancellation arrives as notifications/cancelled', async () => {
    const { mkdtemp, readFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-bridge-'));
    const upstreamLog = join(dir, 'upstream.log');
    const bridgeRuntime = await ToolRuntime.create(parseConfig('name: bridge2\ntools: []\n', 'bridge2.yaml', {}));
    const bridge = await McpProxy.connect(bridgeRuntime, { upstream: { command: process.execPath, args: [UPSTREAM], env: { UPSTREAM_LOG: upstreamLog, UPSTREAM_ERA: 'legacy' } } });
    expect(bridge.upstreamEra).toBe('legacy');
    const bridgeServing = await serveHttp(bridge.factory);
    const client = new Client({ name: 'modern-to-stdio', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(bridgeServing.url)));
    const controller = new AbortController();
    const pending = client.callTool({ name: 'slow_search', arguments: { ms: 30_000 } }, { signal: controller.signal });
    await vi.waitFor(async () => expect(await readFile(upstreamLog, 'utf8').catch(() => '')).toContain('1'), { timeout: 5_000 });
    controller.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(async () => expect(await readFile(upstreamLog, 'utf8')).toContain('aborted'), { timeout: 5_000 });
    await client.close();
    await bridgeServing.close({ graceMs: 0 });
    await bridge.close({ graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  });
});

describe('policies on resources/read and prompts/get', () => {
  it('a configured method runs through the scheduler (its record shows it), an unconfigured one goes straight upstream', async () => {
    const started: string[] = [];
    const limitedRuntime = await ToolRuntime.create(parseConfig('name: limited\ntools: []\n', 'limited.yaml', {}), { observers: [{ onStart: (call) => void started.push(call.tool) }] });
    const limited = await McpProxy.connect(limitedRuntime, { upstream: { command: process.execPath, args: [UPSTREAM] }, methods: { 'resources/read': { maxParallel: 1, timeoutMs: 20_000 } } });
    const limitedServing = await serveHttp(limited.factory);
    const client = new Client({ name: 'limited', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(limitedServing.url)));
    const reads = await Promise.all([1, 2, 3].map((id) => client.readResource({ uri: `memo://notes/${id}` })));
    expect(reads.map((r) => r.contents[0])).toEqual([1, 2, 3].map((id) => ({ uri: `memo://notes/${id}`, text: `note ${id}` })));
    await client.getPrompt({ name: 'greet', arguments: { who: 'bob' } });
    expect(started).toEqual(['resources/read', 'resources/read', 'resources/read']);
    // The method's scheduler entry is not a tool: a tools/call by its name is refused and takes no slot.
    const posing = (await client.callTool({ name: 'resources/read', arguments: {} })) as CallToolResult;
    expect(posing.isError).toBe(true);
    expect(JSON.parse(text(posing))).toMatchObject({ error: { code: 'unknown_tool', message: expect.stringContaining('not a tool') } });
    expect(started).toHaveLength(3);
    // The upstream's own error still reaches the client as that error.
    await expect(client.readResource({ uri: 'memo://nowhere' })).rejects.toMatchObject({ code: expect.any(Number) });
    await client.close();
    await limitedServing.close({ graceMs: 0 });
    await limited.close({ graceMs: 0 });
  });
});

describe('names the upstream never listed', () => {
  it('go upstream, up to a bound; metrics label listed tools by name and the rest `other`', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const ownRuntime = await ToolRuntime.create(parseConfig('name: labelled\ntools: []\n', 'proxy.yaml', {}), { registry });
    const own = await McpProxy.connect(ownRuntime, { upstream: { command: process.execPath, args: [UPSTREAM] } });
    const ownServing = await serveHttp(own.factory);
    const client = new Client({ name: 'names', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(ownServing.url)));
    try {
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toContain('hi');
      // The upstream answers for names it does not have (an error); the proxy passes the first 100 on.
      for (let i = 0; i < 100; i++) {
        const answer = await client.callTool({ name: `made_up_${i}`, arguments: {} }).then((r) => r as CallToolResult, (e: unknown) => e);
        expect(JSON.stringify(answer)).not.toContain('unknown_tool');
      }
      const refused = (await client.callTool({ name: 'made_up_100', arguments: {} })) as CallToolResult;
      expect(refused.isError).toBe(true);
      expect(JSON.parse(text(refused))).toMatchObject({ error: { code: 'unknown_tool', message: expect.stringContaining('the upstream does not list it') } });
      // A name passed on before stays passed on.
      const again = await client.callTool({ name: 'made_up_7', arguments: {} }).then((r) => r as CallToolResult, (e: unknown) => e);
      expect(JSON.stringify(again)).not.toContain('unknown_tool');
      const exposition = await registry.metrics();
      expect(exposition).toMatch(/mcp_calls_total\{[^}]*tool="echo"/);
      expect(exposition).toMatch(/mcp_calls_total\{[^}]*tool="other"/);
      expect(exposition).not.toContain('made_up_');
    } finally {
      await client.close();
      await ownServing.close({ graceMs: 0 });
      await own.close({ graceMs: 0 });
    }
  });
});
