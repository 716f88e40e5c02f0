// The Streamable HTTP session bounds and the proxy's method limits, set from the YAML file and the command
// line of the built CLI (the library options existed before; these are the keys that reach them).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnListening, type RunningServer } from '../testing/index.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('../../test/fixtures/upstream.mjs', import.meta.url));
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const initialize = JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });

let dir: string;
const running: RunningServer[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpc-http-options-'));
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await rm(dir, { recursive: true, force: true });
});

async function serve(yaml: string, extra: string[] = []): Promise<RunningServer> {
  const file = join(dir, `c${running.length}.yaml`);
  await writeFile(file, yaml);
  const server = await spawnListening([CLI, 'serve', '--config', file, '--http', '127.0.0.1:0', ...extra]);
  running.push(server);
  return server;
}

/** The HTTP statuses of `n` initialize requests, one after the other (each opens a session). */
async function openSessions(url: string, n: number): Promise<{ statuses: number[]; last: string }> {
  const statuses: number[] = [];
  let last = '';
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, { method: 'POST', headers, body: initialize });
    last = await res.text();
    statuses.push(res.status);
  }
  return { statuses, last };
}

const TOOLS = 'name: bounded\ntools:\n  - name: hello\n    script: { command: echo, args: ["hi"] }\n';

describe('HTTP sessions bounded from the config file and the command line', () => {
  it('server.max_sessions caps the sessions; --max-sessions overrides it', async () => {
    const fromFile = await serve(`${TOOLS}server: { max_sessions: 1 }\n`);
    const capped = await openSessions(fromFile.url, 2);
    expect(capped.statuses).toEqual([200, 503]);
    expect(capped.last).toContain('Too many open sessions (1)');
    const fromFlag = await serve(`${TOOLS}server: { max_sessions: 1 }\n`, ['--max-sessions', '2']);
    const raised = await openSessions(fromFlag.url, 3);
    expect(raised.statuses).toEqual([200, 200, 503]);
    expect(raised.last).toContain('Too many open sessions (2)');
  });

  it('server.session_idle closes a session left idle: its id then gets 404', async () => {
    const server = await serve(`${TOOLS}server: { session_idle: 100ms }\n`);
    const opened = await fetch(server.url, { method: 'POST', headers, body: initialize });
    await opened.text();
    const id = opened.headers.get('mcp-session-id')!;
    // Any request with the id would keep it alive: wait 20x the idle time (the sweep runs every 50 ms), then ask once.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const stale = await fetch(server.url, { method: 'POST', headers: { ...headers, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
    expect(stale.status).toBe(404);
    await stale.text();
  });
});

describe('proxy.resources_read from the config file', () => {
  it('puts resources/read under its own limit: a second read in the same second is refused with the code in data', async () => {
    const file = join(dir, 'proxy.yaml');
    await writeFile(
      file,
      'name: proxied\ntools: []\nconcurrency:\n  rate_limits:\n    rare: { requests_per_second: 0.001, burst_size: 1 }\nproxy:\n  resources_read: { rate_limit: rare, timeout: 3s }\n',
    );
    const server = await spawnListening([CLI, 'proxy', '--config', file, '--http', '127.0.0.1:0', '--', process.execPath, UPSTREAM]);
    running.push(server);
    const client = new Client({ name: 'reader', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    try {
      // prompts/list has no limit: it goes straight upstream (and starts this session's upstream process first).
      const prompts = await client.listPrompts();
      expect(prompts.prompts.length).toBeGreaterThan(0);
      const first = await client.readResource({ uri: 'memo://readme' });
      expect(first.contents.length).toBeGreaterThan(0);
      const second = await client.readResource({ uri: 'memo://readme' }).then(
        () => undefined,
        (error: unknown) => error as { code?: number; message?: string; data?: { code?: string } },
      );
      expect(second?.message).toContain('resources/read refused');
      // The bucket's next token is 1,000 s away: refused at once (rate_limited) or at the 3 s deadline (timeout).
      expect(['rate_limited', 'timeout']).toContain(second?.data?.code);
    } finally {
      await client.close();
    }
  });
});
