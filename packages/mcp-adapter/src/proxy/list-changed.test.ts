import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { McpServer } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ToolRuntime } from '../runtime.js';
import { serveHttp, type Serving } from '../server/serve.js';
import { McpProxy } from './proxy.js';

// The upstream's list changes reach 2026-07-28 clients through the proxy: they have no session, so they hear
// them on a `subscriptions/listen` stream, which the SDK client opens when it has a listChanged handler.
const UPSTREAM = fileURLToPath(new URL('../../test/fixtures/upstream.mjs', import.meta.url));
const text = (r: unknown): string => (r as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

async function proxyFor(upstream: { url: string } | { command: string; args: string[]; env: Record<string, string> }): Promise<{ proxy: McpProxy; serving: Serving }> {
  const runtime = await ToolRuntime.create(parseConfig('name: relay\ntools: []\n', 'relay.yaml', {}));
  const proxy = await McpProxy.connect(runtime, { upstream });
  cleanup.push(() => proxy.close({ graceMs: 0 }));
  const serving = await serveHttp(proxy.factory);
  cleanup.push(() => serving.close({ graceMs: 0 }));
  proxy.relayChanges(serving.notify);
  return { proxy, serving };
}

/** A 2026-07-28 client that counts the tools/list_changed it hears. */
async function listening(url: string): Promise<{ client: Client; heard: () => number }> {
  let heard = 0;
  const client = new Client(
    { name: 'listener', version: '1' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } }, listChanged: { tools: { autoRefresh: false, debounceMs: 0, onChanged: () => void heard++ } } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanup.push(() => client.close());
  expect(client.getProtocolEra()).toBe('modern');
  return { client, heard: () => heard };
}

describe('list_changed through the proxy to 2026-07-28 clients (subscriptions/listen)', () => {
  it('a 2026-07-28 HTTP upstream: its tools change, the proxy hears it on its own listen stream, a listening client hears it and sees the new tool', async () => {
    const names = ['first'];
    const build = (): McpServer => {
      const server = new McpServer({ name: 'changing', version: '1' });
      for (const name of names) server.registerTool(name, { description: name }, async () => ({ content: [{ type: 'text', text: `${name} ran` }] }));
      return server;
    };
    const upstream = await serveHttp(build);
    cleanup.push(() => upstream.close({ graceMs: 0 }));
    const { proxy, serving } = await proxyFor({ url: upstream.url });
    expect(proxy.upstreamEra).toBe('modern');
    const { client, heard } = await listening(serving.url);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['first']);

    names.push('second');
    upstream.notify.toolsChanged();
    await vi.waitFor(() => expect(heard()).toBe(1));
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['first', 'second']);
    expect(text(await client.callTool({ name: 'second', arguments: {} }))).toBe('second ran');
  });

  it('a 2025-only stdio upstream: a tool added on the shared session reaches a listening 2026-07-28 client', async () => {
    const { proxy, serving } = await proxyFor({ command: process.execPath, args: [UPSTREAM], env: { UPSTREAM_ERA: 'legacy' } });
    expect(proxy.upstreamEra).toBe('legacy');
    const { client, heard } = await listening(serving.url);
    expect(text(await client.callTool({ name: 'add_tool', arguments: { name: 'late' } }))).toBe('added');
    await vi.waitFor(() => expect(heard()).toBe(1));
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('late');
    expect(text(await client.callTool({ name: 'late', arguments: {} }))).toBe('late ran');
  });

  it('without relayChanges nothing is relayed (and nothing breaks)', async () => {
    const names = ['only'];
    const upstream = await serveHttp(() => {
      const server = new McpServer({ name: 'quiet', version: '1' });
      for (const name of names) server.registerTool(name, { description: name }, async () => ({ content: [{ type: 'text', text: 'ok' }] }));
      return server;
    });
    cleanup.push(() => upstream.close({ graceMs: 0 }));
    const runtime = await ToolRuntime.create(parseConfig('name: quiet\ntools: []\n', 'quiet.yaml', {}));
    const proxy = await McpProxy.connect(runtime, { upstream: { url: upstream.url } });
    cleanup.push(() => proxy.close({ graceMs: 0 }));
    const serving = await serveHttp(proxy.factory);
    cleanup.push(() => serving.close({ graceMs: 0 }));
    const { client, heard } = await listening(serving.url);
    upstream.notify.toolsChanged();
    // The proxy re-reads the upstream's list (its own listen stream): a call then reaches the upstream as before.
    expect(text(await client.callTool({ name: 'only', arguments: {} }))).toBe('ok');
    await new Promise((r) => setTimeout(r, 50));
    expect(heard()).toBe(0);
  });
});
