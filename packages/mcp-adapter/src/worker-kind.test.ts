import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from './config/load.js';
import { ToolRuntime } from './runtime.js';
import { spawnListening, type RunningServer } from './testing/index.js';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/cpu-tools.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpc-worker-'));
  await mkdir(join(dir, 'tools'));
  await copyFile(FIXTURE, join(dir, 'tools', 'cpu.mjs'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const yaml = (tools: string): string => `name: cpu-tools
concurrency:
  max_parallel: 10
  thread_pool_size: 2
tools:
${tools}`;

const SHA = `  - name: sha256
    description: SHA-256 of a text, on a worker thread
    parameters: [{ name: text, type: string, required: true }]
    worker: { module: ./tools/cpu.mjs, export: sha256 }
`;

describe('the worker tool kind in the YAML config', () => {
  it('resolves the module against the config file\'s folder; export defaults to "default"', () => {
    const config = parseConfig(yaml(`${SHA}  - name: main\n    worker: { module: ../elsewhere/main.mjs }\n`), join(dir, 'server.yaml'), {});
    expect(config.tools.map((t) => t.run)).toEqual([
      { kind: 'worker', module: join(dir, 'tools', 'cpu.mjs'), export: 'sha256' },
      { kind: 'worker', module: join(dir, '..', 'elsewhere', 'main.mjs'), export: 'default' },
    ]);
  });

  it('refuses a worker without a module, or a tool with two kinds, naming the line', () => {
    expect(() => parseConfig(yaml('  - name: x\n    worker: { export: f }\n'), 'w.yaml', {})).toThrow(/w\.yaml:7:\d+: tools\[0\]\.worker: missing required property "module"/);
    expect(() => parseConfig(yaml('  - name: x\n    worker: { module: ./a.mjs }\n    sql: { query: SELECT 1 }\n'), 'w.yaml', {})).toThrow(
      /exactly one of script, http, sql or worker, got sql and worker/,
    );
  });

  it('a module or export that does not exist fails when the server is built, not at the first call', async () => {
    const missingExport = parseConfig(yaml('  - name: x\n    worker: { module: ./tools/cpu.mjs, export: nope }\n'), join(dir, 'a.yaml'), {});
    await expect(ToolRuntime.create(missingExport)).rejects.toMatchObject({ code: 'config_error', message: expect.stringContaining('"nope" is not a function') });
    const missingModule = parseConfig(yaml('  - name: x\n    worker: { module: ./tools/absent.mjs }\n'), join(dir, 'b.yaml'), {});
    await expect(ToolRuntime.create(missingModule)).rejects.toMatchObject({ code: 'config_error', message: expect.stringContaining('Cannot find module') });
  });
});

/** User + system CPU seconds of a process so far, from /proc (Linux). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function cpuRatio(pid: number, ms: number): Promise<number> {
  const c0 = await cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((await cpuSeconds(pid)) - c0) / ((performance.now() - t0) / 1000);
}

describe('mcp-concurrency serve with worker tools (the built CLI, Streamable HTTP)', () => {
  let server: RunningServer;
  let client: Client;
  beforeAll(async () => {
    const file = join(dir, 'serve.yaml');
    await writeFile(file, yaml(`${SHA}  - name: forever
    description: never returns
    timeout: 1s
    worker: { module: ./tools/cpu.mjs, export: forever }
  - name: forever_no_deadline
    description: never returns, no deadline
    worker: { module: ./tools/cpu.mjs, export: forever }
  - name: saw_token
    worker: { module: ./tools/cpu.mjs, export: sawToken }
`));
    server = await spawnListening([CLI, 'serve', '--config', file, '--http', '127.0.0.1:0'], { MCP_CONCURRENCY_TOKEN: 'sekret' });
    client = new Client({ name: 'worker-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { authorization: 'Bearer sekret' } } }));
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  const text = (result: unknown): string => (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

  it('lists and runs a worker tool; the tool code does not see the server\'s token', async () => {
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'sha256')?.inputSchema).toMatchObject({ properties: { text: { type: 'string' } }, required: ['text'] });
    const result = await client.callTool({ name: 'sha256', arguments: { text: 'abc' } });
    expect(result.isError).toBeFalsy();
    expect(text(result)).toContain(createHash('sha256').update('abc').digest('hex'));
    expect(text(await client.callTool({ name: 'saw_token', arguments: {} }))).toBe('false');
  });

  it('a never-returning call is stopped by its deadline and by the client\'s cancellation; the server\'s CPU goes back to idle', async () => {
    const pid = server.child.pid!;
    const controller = new AbortController();
    const byClient = client.callTool({ name: 'forever_no_deadline', arguments: {} }, undefined, { signal: controller.signal, timeout: 60_000 });
    const timedOut = await client.callTool({ name: 'forever', arguments: {} });
    expect(timedOut.isError).toBe(true);
    expect(text(timedOut)).toMatch(/timeout/i);
    // The call without a deadline still spins on its thread.
    const busy = await cpuRatio(pid, 400);
    controller.abort();
    await expect(byClient).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 200));
    const idle = await cpuRatio(pid, 600);
    // Judged against this run's busy figure: a spinning thread gets whatever share of a core the machine gives it.
    expect(idle).toBeLessThan(busy / 4);
    const metrics = await (await fetch(server.url.replace('/mcp', '/metrics'), { headers: { authorization: 'Bearer sekret' } })).text();
    const count = (state: string): number => Number(new RegExp(`mcp_pool_connections\\{pool="worker",state="${state}",service="cpu-tools"\\} (\\d+)`).exec(metrics)?.[1]);
    // The cancelled call had run for a while; the deadline may have come before a second thread had even
    // started on a loaded machine (then piscina takes the call off its queue and no thread is terminated).
    expect(count('terminated')).toBeGreaterThanOrEqual(1);
    expect([count('busy'), count('queued')]).toEqual([0, 0]);
    expect(text(await client.callTool({ name: 'sha256', arguments: { text: '' } }))).toContain(createHash('sha256').update('').digest('hex'));
  });
});
