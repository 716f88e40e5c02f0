import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ToolRuntime, type ToolRunContext } from '../runtime.js';
import { McpProxy } from '../proxy/proxy.js';
import { openRawSession, spawnListening } from '../testing/index.js';
import { createMcpServer } from './mcp-server.js';
import { serveHttp } from './serve.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const text = (r: unknown): string => (r as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const initialize = JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });

/** A runtime with `wait` (resolves after `ms`, or rejects when aborted, recording it) and `noop`. */
async function runtimeWithTools(aborted: string[] = [], started: string[] = []): Promise<ToolRuntime> {
  const runtime = await ToolRuntime.create(parseConfig('name: served\nconcurrency:\n  max_parallel: 4\ntools: []\n', 'served.yaml', {}), {
    observers: [{ onStart: (call) => void started.push(call.tool) }],
  });
  runtime.addTool(
    {
      name: 'wait',
      description: 'waits ms',
      inputSchema: { type: 'object' },
      run: (args: Record<string, unknown>, ctx: ToolRunContext) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => resolve(`waited ${String(args['ms'])}`), Number(args['ms']));
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            aborted.push(String(args['tag']));
            reject(ctx.signal.reason);
          }, { once: true });
        }),
    },
    {},
  );
  runtime.addTool({ name: 'noop', description: 'returns', inputSchema: { type: 'object' }, run: async () => 'ok' }, {});
  return runtime;
}

describe('Streamable HTTP sessions are bounded', () => {
  const open = async (url: string): Promise<Response> => fetch(url, { method: 'POST', headers, body: initialize });

  it('refuses an initialize over the cap with 503 and Retry-After, and takes one again when a session is closed', async () => {
    const runtime = await runtimeWithTools();
    const serving = await serveHttp(() => createMcpServer(runtime), { maxSessions: 2 });
    const first = await open(serving.url);
    const second = await open(serving.url);
    await Promise.all([first.text(), second.text()]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(serving.sessions).toBe(2);
    const over = await open(serving.url);
    expect(over.status).toBe(503);
    expect(over.headers.get('retry-after')).not.toBeNull();
    expect(await over.text()).toMatch(/Too many open sessions \(2\)/);
    await (await fetch(serving.url, { method: 'DELETE', headers: { ...headers, 'mcp-session-id': first.headers.get('mcp-session-id')! } })).text();
    const again = await open(serving.url);
    expect(again.status).toBe(200);
    await again.text();
    await serving.close({ graceMs: 0 });
    await runtime.close();
  });

  it('closes a session idle for sessionIdleMs; its id is then unknown (404)', async () => {
    const runtime = await runtimeWithTools();
    const closed: string[] = [];
    const serving = await serveHttp(() => createMcpServer(runtime), { sessionIdleMs: 200, onSessionClosed: (_id, why) => void closed.push(why) });
    const first = await open(serving.url);
    await first.text();
    await vi.waitFor(() => expect(closed).toEqual(['idle']), { timeout: 10_000 });
    expect(serving.sessions).toBe(0);
    const stale = await fetch(serving.url, { method: 'POST', headers: { ...headers, 'mcp-session-id': first.headers.get('mcp-session-id')! }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
    expect(stale.status).toBe(404);
    await stale.text();
    await serving.close({ graceMs: 0 });
    await runtime.close();
  });

  it('a session with a call still running, or a client listening on its GET stream, is not idle; idle is counted from the last of them', async () => {
    const runtime = await runtimeWithTools();
    const closed: string[] = [];
    const serving = await serveHttp(() => createMcpServer(runtime), { sessionIdleMs: 100, onSessionClosed: (_id, why) => void closed.push(why) });
    // A 2025-revision SDK client: it keeps a GET stream open for the server's notifications.
    const client = new Client({ name: 'long-call', version: '1' }, { versionNegotiation: { mode: 'legacy' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
    expect(text(await client.callTool({ name: 'wait', arguments: { ms: 1_500 } }))).toContain('waited 1500');
    await new Promise((r) => setTimeout(r, 500));
    expect(closed).toEqual([]);
    // The client goes away (its GET stream closes, no DELETE): idle from then on.
    await client.close().catch(() => {});
    await vi.waitFor(() => expect(closed).toEqual(['idle']), { timeout: 10_000 });
    await serving.close({ graceMs: 0 });
    await runtime.close();
  });

  it('a 2026-07-28 client is served on the same endpoint without a session, and its cancellation (the closed stream) aborts the tool', async () => {
    const aborted: string[] = [];
    const runtime = await runtimeWithTools(aborted);
    const serving = await serveHttp(() => createMcpServer(runtime));
    const client = new Client({ name: 'modern', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
    expect(client.getProtocolEra()).toBe('modern');
    expect(text(await client.callTool({ name: 'noop', arguments: {} }))).toBe('ok');
    expect(serving.sessions).toBe(0);
    const controller = new AbortController();
    const pending = client.callTool({ name: 'wait', arguments: { ms: 30_000, tag: 'modern' } }, { signal: controller.signal });
    await vi.waitFor(() => expect(runtime.scheduler.running).toBe(1));
    controller.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(aborted).toEqual(['modern']), { timeout: 5_000 });
    await client.close();
    await serving.close({ graceMs: 0 });
    await runtime.close();
  });

  it('a 2026-07-28 request whose Mcp-Method/Mcp-Name headers disagree with its body is refused, and nothing runs', async () => {
    const started: string[] = [];
    const runtime = await runtimeWithTools([], started);
    const serving = await serveHttp(() => createMcpServer(runtime));
    const _meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
    const send = (name: string): Promise<Response> =>
      fetch(serving.url, {
        method: 'POST',
        headers: { ...headers, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait', arguments: { ms: 1, tag: 'x' }, _meta } }),
      });
    const mismatch = await send('noop');
    const refused = (await mismatch.json()) as { error?: { code: number; message: string } };
    expect(refused.error?.code).toBe(-32020);
    expect(started).toEqual([]);
    const match = await send('wait');
    expect(await match.text()).toContain('waited 1');
    expect(started).toEqual(['wait']);
    await serving.close({ graceMs: 0 });
    await runtime.close();
  });

  it('close() stops taking requests and answers the calls in flight before the transport closes', async () => {
    const runtime = await runtimeWithTools();
    const serving = await serveHttp(() => createMcpServer(runtime));
    const client = new Client({ name: 'legacy', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
    const inFlight = client.callTool({ name: 'wait', arguments: { ms: 300, tag: 'a' } });
    await vi.waitFor(() => expect(runtime.scheduler.running).toBe(1));
    const closing = serving.close({ graceMs: 5_000 });
    const late = await fetch(serving.url, { method: 'POST', headers, body: initialize });
    expect(late.status).toBe(503);
    await late.text();
    expect(text(await inFlight)).toBe('waited 300');
    await closing;
    await runtime.close();
  });
});

describe('logging', () => {
  it('a script\'s stderr lines reach the calling client as notifications/message, at that client\'s level', async () => {
    const record = fileURLToPath(new URL('../../test/fixtures/record.mjs', import.meta.url));
    const yaml = `name: logs\ntools:\n  - name: fails\n    description: writes to stderr and exits 3\n    script: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(record)}, "fail"] }\n`;
    const runtime = await ToolRuntime.create(parseConfig(yaml, 'logs.yaml', {}));
    const serving = await serveHttp(() => createMcpServer(runtime));
    const heard: Record<string, string[]> = { info: [], error: [] };
    for (const level of ['info', 'error'] as const) {
      const client = new Client({ name: level, version: '1' });
      client.setNotificationHandler('notifications/message', (n) => void heard[level]!.push(`${n.params.level} ${n.params.logger} ${String(n.params.data)}`));
      await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
      expect(client.getServerCapabilities()?.logging).toEqual({});
      await client.setLoggingLevel(level);
      const result = await client.callTool({ name: 'fails', arguments: {} });
      expect(result.isError).toBe(true);
      await client.close();
    }
    expect(heard).toEqual({ info: ['info fails something went wrong: the tail of stderr says why'], error: [] });
    await serving.close({ graceMs: 0 });
    await runtime.close();
  });
});

describe('logging: the level a client hears', () => {
  it('a 2025 client that never set a level hears info and up (no debug start events); after logging/setLevel debug, it does; a 2026-07-28 request hears its envelope\'s level', async () => {
    const upstream = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/status`;
    const yaml = `name: levels\nhttp: { allow_private_network: true }\ntools:\n  - name: status\n    description: gets the status\n    http: { url: "${url}" }\n`;
    const runtime = await ToolRuntime.create(parseConfig(yaml, 'levels.yaml', {}));
    const serving = await serveHttp(() => createMcpServer(runtime));
    const listen = async (client: Client): Promise<string[]> => {
      const heard: string[] = [];
      client.setNotificationHandler('notifications/message', (n) => void heard.push(`${n.params.level} ${String(n.params.data).replace(/\d+ ms/, 'N ms')}`));
      await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
      return heard;
    };
    try {
      const legacy = new Client({ name: 'legacy', version: '1' });
      const heard = await listen(legacy);
      expect((await legacy.callTool({ name: 'status', arguments: {} })).isError).toBeFalsy();
      expect(heard).toEqual(['info http status: done in N ms']);
      await legacy.setLoggingLevel('debug');
      heard.length = 0;
      await legacy.callTool({ name: 'status', arguments: {} });
      expect(heard).toEqual(['debug http status: started (attempt 1)', 'info http status: done in N ms']);
      await legacy.setLoggingLevel('error');
      heard.length = 0;
      await legacy.callTool({ name: 'status', arguments: {} });
      expect(heard).toEqual([]);
      await legacy.close();

      const modern = new Client({ name: 'modern', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      const heardModern = await listen(modern);
      await modern.callTool({ name: 'status', arguments: {} });
      expect(heardModern).toEqual([]); // no level in the envelope: nothing
      await modern.callTool({ name: 'status', arguments: {}, _meta: { 'io.modelcontextprotocol/logLevel': 'debug' } });
      expect(heardModern).toEqual(['debug http status: started (attempt 1)', 'info http status: done in N ms']);
      await modern.close();
    } finally {
      await serving.close({ graceMs: 0 });
      await runtime.close();
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});

describe('shutdown of the CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpc-shutdown-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM: a call in flight gets its result, then the process exits 0', async () => {
    const record = fileURLToPath(new URL('../../test/fixtures/record.mjs', import.meta.url));
    const file = join(dir, 'serve.yaml');
    await writeFile(file, `name: shutdown\ntools:\n  - name: sleep\n    description: sleeps\n    parameters: [{ name: ms, type: integer }]\n    script: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(record)}, "sleep"], output: json }\n`);
    const server = await spawnListening([CLI, 'serve', '--config', file, '--http', '127.0.0.1:0']);
    const client = new Client({ name: 'sigterm', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const pending = client.callTool({ name: 'sleep', arguments: { ms: 1_500 } });
    await new Promise((r) => setTimeout(r, 400));
    const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
    server.child.kill('SIGTERM');
    expect(JSON.parse(text(await pending))).toEqual({ slept: 1_500, echo: null });
    expect(await exited).toBe(0);
  });
  it('stdin closed (printf ... | serve): the requests already read are answered on stdout, then the process exits 0', async () => {
    const record = fileURLToPath(new URL('../../test/fixtures/record.mjs', import.meta.url));
    const file = join(dir, 'stdio.yaml');
    await writeFile(file, `name: eof\ntools:\n  - name: sleep\n    description: sleeps\n    parameters: [{ name: ms, type: integer }]\n    script: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(record)}, "sleep"], output: json }\n`);
    const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { stdio: ['pipe', 'pipe', 'ignore'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const lines = [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'eof', version: '1' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 300 } } },
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 1 } } },
    ];
    child.stdin.end(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    expect(await exited).toBe(0);
    const answers = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id?: number; result?: CallToolResult });
    const byId = new Map(answers.map((a) => [a.id, a]));
    expect(JSON.parse(text(byId.get(2)!.result!))).toEqual({ slept: 300, echo: null });
    expect(JSON.parse(text(byId.get(3)!.result!))).toEqual({ slept: 1, echo: null });
  });
});

describe('non-object arguments are judged after the transport, auth and session checks', () => {
  const bad = (id: number, args: unknown, meta?: Record<string, unknown>): string =>
    JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'noop', arguments: args, ...(meta ? { _meta: meta } : {}) } });
  const _meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
  const modern = { ...headers, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'noop' };

  it.each([
    ['an array', [1, 2]],
    ['a string', 'x'],
    ['a number', 3],
  ])('%s: 401 without the token, 404 for an unknown session, 400 without one or with bad headers; a tool error only once all pass', async (_kind, args) => {
    const runtime = await runtimeWithTools();
    const serving = await serveHttp(() => createMcpServer(runtime), { token: 'secret' });
    const auth = { authorization: 'Bearer secret' };
    const post = async (extra: Record<string, string>, body: string): Promise<{ status: number; body: string }> => {
      const res = await fetch(serving.url, { method: 'POST', headers: { ...headers, ...extra }, body });
      return { status: res.status, body: await res.text() };
    };
    try {
      expect((await post({}, bad(1, args))).status).toBe(401);
      expect((await post({ ...auth, 'mcp-session-id': 'no-such-session' }, bad(2, args))).status).toBe(404);
      expect((await post(auth, bad(3, args))).status).toBe(400); // a 2025 request without a session
      expect((await post({ ...modern, ...auth, 'mcp-name': 'wait' }, bad(4, args, _meta))).status).toBe(400); // Mcp-Name disagrees with the body
      expect((await post({ ...modern, ...auth, 'mcp-protocol-version': '2025-11-25' }, bad(5, args, _meta))).status).toBe(400); // header and envelope disagree
      const opened = await fetch(serving.url, { method: 'POST', headers: { ...headers, ...auth }, body: initialize });
      await opened.text();
      const session = { ...auth, 'mcp-session-id': opened.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
      await post(session, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      const legacy = await post(session, bad(6, args));
      expect(legacy.status).toBe(200);
      expect(legacy.body).toContain('must be a JSON object, got a');
      const stateless = await post({ ...modern, ...auth }, bad(7, args, _meta));
      expect(stateless.status).toBe(200);
      expect(stateless.body).toContain('must be a JSON object, got a');
    } finally {
      await serving.close({ graceMs: 0 });
      await runtime.close();
    }
  });
});

describe('a request body over the limit', () => {
  /**
   * POSTs `total` bytes in 64 KiB chunks (waiting for drain, as a well-behaved client does), with a
   * Content-Length or chunked, and keeps writing whatever the server does meanwhile; resolves with the
   * status and body it got, or the socket error (ECONNRESET, EPIPE) that cut it short.
   */
  const post = (url: string, total: number, chunked: boolean): Promise<{ status?: number; body?: string; error?: string }> =>
    new Promise((resolve) => {
      const { hostname, port, pathname } = new URL(url);
      const req = httpRequest({ host: hostname, port, path: pathname, method: 'POST', headers: { ...headers, ...(chunked ? {} : { 'content-length': String(total) }) } });
      let settled = false;
      const done = (outcome: { status?: number; body?: string; error?: string }): void => {
        if (!settled) resolve(outcome);
        settled = true;
      };
      req.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => done({ status: res.statusCode, body }));
        res.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
      });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      void (async () => {
        for (let sent = 0; sent < total && !req.destroyed; sent += chunk.length) {
          if (!req.write(chunk.subarray(0, Math.min(chunk.length, total - sent)))) {
            // Both listeners go once either fires: left behind, one pair per wait piles up on `req`.
            await new Promise<void>((resolve) => {
              const wake = (): void => {
                req.off('drain', wake).off('close', wake);
                resolve();
              };
              req.once('drain', wake).once('close', wake);
            });
          }
        }
        if (!req.destroyed) req.end();
      })();
    });

  it.each([
    ['with a Content-Length', false],
    ['chunked', true],
  ])('5 MiB %s gets HTTP 413 with a JSON-RPC error body, never a reset, 10 times in a row', async (_how, chunked) => {
    const runtime = await runtimeWithTools();
    const serving = await serveHttp(() => createMcpServer(runtime));
    try {
      for (let i = 0; i < 10; i++) {
        const outcome = await post(serving.url, 5 * 1024 * 1024, chunked);
        expect(outcome, `attempt ${i}`).toMatchObject({ status: 413 });
        expect(JSON.parse(outcome.body!)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('over 4194304 bytes') }, id: null });
      }
      // The server still serves.
      const ok = await fetch(serving.url, { method: 'POST', headers, body: initialize });
      expect(ok.status).toBe(200);
      await ok.text();
    } finally {
      await serving.close({ graceMs: 0 });
      await runtime.close();
    }
  });
});

describe('a 2025-11-25 call cancelled by its client ends its SSE response, so shutdown is not held for the grace period', () => {
  /** Far longer than the test timeout: a close() that waits for it fails the test. */
  const LONG_GRACE_MS = 600_000;

  /**
   * On a raw session: POSTs tools/call `wait` (600 s), waits until `running()` says it runs, cancels it with
   * notifications/cancelled, and returns the SSE response's whole text, which only resolves when the
   * server ends that stream.
   */
  async function callThenCancel(url: string, running: () => number): Promise<string> {
    const session = { ...headers, 'mcp-session-id': await openRawSession(url), 'mcp-protocol-version': '2025-11-25' };
    // Not awaited yet: the SSE response's headers go out with its first event (or the SDK's 15 s keep-alive).
    const call = fetch(url, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait', arguments: { ms: 600_000, tag: 'raw' } } }) });
    await vi.waitFor(() => expect(running()).toBe(1), { timeout: 10_000 });
    const cancel = await fetch(url, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'test' } }) });
    expect(cancel.status).toBe(202);
    const response = await call;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    return response.text();
  }

  it('serve: notifications/cancelled aborts the tool and ends that request\'s stream, without a response (the spec: none for a cancelled request)', async () => {
    const aborted: string[] = [];
    const runtime = await runtimeWithTools(aborted);
    const serving = await serveHttp(() => createMcpServer(runtime));
    const body = await callThenCancel(serving.url, () => runtime.scheduler.running);
    expect(body).not.toMatch(/"id":7/);
    await vi.waitFor(() => expect(aborted).toEqual(['raw']), { timeout: 10_000 });
    // The session stays usable.
    expect(serving.sessions).toBe(1);
    await serving.close({ graceMs: LONG_GRACE_MS });
    await runtime.close();
  });

  it('serve: an SDK client that aborts its call (it sends notifications/cancelled) does not hold close()', async () => {
    const aborted: string[] = [];
    const runtime = await runtimeWithTools(aborted);
    const serving = await serveHttp(() => createMcpServer(runtime));
    const client = new Client({ name: 'legacy-abort', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(serving.url)));
    const controller = new AbortController();
    const pending = client.callTool({ name: 'wait', arguments: { ms: 600_000, tag: 'sdk' } }, { signal: controller.signal });
    await vi.waitFor(() => expect(runtime.scheduler.running).toBe(1), { timeout: 10_000 });
    controller.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(aborted).toEqual(['sdk']), { timeout: 10_000 });
    await serving.close({ graceMs: LONG_GRACE_MS });
    await client.close();
    await runtime.close();
  });

  it('proxy: the cancellation reaches the upstream tool, and neither the proxy\'s stream nor the upstream\'s stays open', async () => {
    const aborted: string[] = [];
    const upstreamRuntime = await runtimeWithTools(aborted);
    const upstream = await serveHttp(() => createMcpServer(upstreamRuntime));
    const proxyRuntime = await ToolRuntime.create(parseConfig('name: proxy\ntools: []\n', 'proxy.yaml', {}));
    const proxy = await McpProxy.connect(proxyRuntime, { upstream: { url: upstream.url } });
    const serving = await serveHttp(proxy.factory);
    const body = await callThenCancel(serving.url, () => upstreamRuntime.scheduler.running);
    expect(body).not.toMatch(/"id":7/);
    await vi.waitFor(() => expect(aborted).toEqual(['raw']), { timeout: 10_000 });
    expect(proxyRuntime.scheduler.running).toBe(0);
    await serving.close({ graceMs: LONG_GRACE_MS });
    await proxy.close({ graceMs: 0 });
    await upstream.close({ graceMs: LONG_GRACE_MS });
    await upstreamRuntime.close();
  });
});
