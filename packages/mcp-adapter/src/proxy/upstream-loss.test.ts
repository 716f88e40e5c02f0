import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { McpServer } from '@modelcontextprotocol/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { parseConfig } from '../config/load.js';
import { ToolRuntime } from '../runtime.js';
import { serveHttp, type Serving } from '../server/serve.js';
import { spawnListening } from '../testing/index.js';
import { McpProxy } from './proxy.js';

// A 2025-revision client through the proxy has its own upstream session. When that session is gone (the
// upstream expired or forgot it, or died), the client must hear so: its calls fail at once, and its own
// session ends, so that its next request gets 404 and it starts over.
const RECORD = fileURLToPath(new URL('../../test/fixtures/record.mjs', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('../../test/fixtures/upstream.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const text = (r: unknown): string => (r as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpc-loss-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function proxyFor(url: string): Promise<Serving> {
  const runtime = await ToolRuntime.create(parseConfig('name: loss\ntools: []\n', 'loss.yaml', {}));
  const proxy = await McpProxy.connect(runtime, { upstream: { url } });
  cleanup.push(() => proxy.close({ graceMs: 0 }));
  const serving = await serveHttp(proxy.factory);
  cleanup.push(() => serving.close({ graceMs: 0 }));
  return serving;
}

async function legacyClient(url: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'legacy', version: '1' }, { versionNegotiation: { mode: 'legacy' } });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  cleanup.push(() => client.close());
  expect(client.getProtocolEra()).toBe('legacy');
  return { client, transport };
}

describe('a lost upstream session', () => {
  it('upstream restarted (it forgot the session): the call that finds out fails, the client\'s session ends (404), a new session works', async () => {
    const build = (): McpServer => {
      const server = new McpServer({ name: 'forgetful', version: '1' });
      server.registerTool('hello', { description: 'hello', inputSchema: z.object({}) }, async () => ({ content: [{ type: 'text', text: 'hello' }] }));
      return server;
    };
    const first = await serveHttp(build);
    const port = Number(new URL(first.url).port);
    const proxy = await proxyFor(first.url);
    const { client, transport } = await legacyClient(proxy.url);
    expect(text(await client.callTool({ name: 'hello', arguments: {} }))).toBe('hello');
    const sessionId = transport.sessionId!;
    // The upstream restarts on the same address: its sessions are gone.
    await first.close({ graceMs: 0 });
    const second = await serveHttp(build, { port });
    cleanup.push(() => second.close({ graceMs: 0 }));
    const failed = await client.callTool({ name: 'hello', arguments: {} }).then(
      (r) => text(r),
      (e: unknown) => String(e),
    );
    expect(failed).not.toBe('hello');
    // The proxy ended the client's session: a request with its id gets 404 (the spec's cue to initialize again).
    await expect
      .poll(async () => (await fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) })).status, { timeout: 5_000 })
      .toBe(404);
    const { client: again } = await legacyClient(proxy.url);
    expect(text(await again.callTool({ name: 'hello', arguments: {} }))).toBe('hello');
  });

  it('upstream killed mid-call: the 2025-revision call fails at once, not at its deadline', async () => {
    const file = join(dir, 'upstream.yaml');
    await writeFile(file, `name: mortal\ntools:\n  - name: sleep\n    description: sleeps\n    parameters: [{ name: ms, type: integer }]\n    script: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(RECORD)}, "sleep"], output: json }\n`);
    const upstream = await spawnListening([CLI, 'serve', '--config', file, '--http', '127.0.0.1:0']);
    cleanup.push(() => upstream.stop());
    const proxy = await proxyFor(upstream.url);
    const { client } = await legacyClient(proxy.url);
    const pending = client.callTool({ name: 'sleep', arguments: { ms: 20_000 } }, { timeout: 60_000 }).then(
      (r) => ({ error: (r as CallToolResult).isError === true, text: text(r) }),
      (e: unknown) => ({ error: true, text: String(e) }),
    );
    // A 2026-07-28 call beside it, over the proxy's shared upstream connection.
    const modern = new Client({ name: 'modern', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await modern.connect(new StreamableHTTPClientTransport(new URL(proxy.url)));
    cleanup.push(() => modern.close());
    const other = modern.callTool({ name: 'sleep', arguments: { ms: 20_000 } }, { timeout: 60_000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 500));
    upstream.child.kill('SIGKILL');
    await other;
    const outcome = await pending;
    // The broken stream ended it, not the tool (20 s) nor the client's deadline (60 s, "timed out").
    expect(outcome.error).toBe(true);
    expect(outcome.text).not.toMatch(/slept|timed out|timeout/i);
    expect(outcome.text).toMatch(/upstream/i);
  });

  it('a stdio upstream that dies mid-call (the server, not the proxy): the call fails at once, the client\'s session ends, a new one works', async () => {
    const pids = join(dir, `pids-${Date.now()}`);
    const runtime = await ToolRuntime.create(parseConfig('name: stdio-loss\ntools: []\n', 'loss.yaml', {}));
    const proxy = await McpProxy.connect(runtime, { upstream: { command: process.execPath, args: [UPSTREAM], env: { UPSTREAM_PID_FILE: pids, UPSTREAM_ERA: 'legacy' } } });
    cleanup.push(() => proxy.close({ graceMs: 0 }));
    const serving = await serveHttp(proxy.factory);
    cleanup.push(() => serving.close({ graceMs: 0 }));
    const { client, transport } = await legacyClient(serving.url);
    const sessionId = transport.sessionId!;
    const pending = client.callTool({ name: 'slow_search', arguments: { ms: 20_000 } }, { timeout: 60_000 }).then(
      (r) => ({ error: (r as CallToolResult).isError === true, text: text(r) }),
      (e: unknown) => ({ error: true, text: String(e) }),
    );
    // The process running the call (this session's own upstream) writes its pid when the call starts.
    await expect.poll(async () => (await readFile(pids, 'utf8').catch(() => '')).trim(), { timeout: 10_000 }).not.toBe('');
    process.kill(Number((await readFile(pids, 'utf8')).trim()), 'SIGKILL');
    const outcome = await pending;
    expect(outcome.error).toBe(true);
    expect(outcome.text).not.toMatch(/slept|timed out|timeout/i);
    await expect
      .poll(async () => (await fetch(serving.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) })).status, { timeout: 5_000 })
      .toBe(404);
    const { client: again } = await legacyClient(serving.url);
    expect(text(await again.callTool({ name: 'echo', arguments: { text: 'back' } }))).toBe('back');
  });
});
