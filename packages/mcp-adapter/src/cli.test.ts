import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runToCompletion, spawnListening, type RunningServer } from './testing/index.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const RECORD = fileURLToPath(new URL('../test/fixtures/record.mjs', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('../test/fixtures/upstream.mjs', import.meta.url));
// The gantz.yaml of the article the project grew from, verbatim (its own script paths, not runnable here).
const GANTZ = fileURLToPath(new URL('../test/fixtures/gantz.yaml', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpc-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const node = JSON.stringify(process.execPath);
function config(extra: { name?: string; concurrency?: string; tools?: string; more?: string } = {}): string {
  return `name: ${extra.name ?? 'test-tools'}
concurrency:
  max_parallel: 10
  thread_pool_size: 20
${extra.concurrency ?? ''}
tools:
  - name: sleep
    description: Sleeps for ms milliseconds and records it
    concurrency:
      max_parallel: 3
    parameters:
      - name: ms
        type: integer
        required: true
      - name: text
        type: string
      - name: meet
        type: integer
      - name: again
        type: string
    script:
      command: ${node}
      args: [${JSON.stringify(RECORD)}, "sleep"]
      output: json
${extra.tools ?? ''}
${extra.more ?? ''}`;
}

async function writeConfig(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

interface Recorded {
  event: 'start' | 'end';
  pid: number;
  at: number;
  spawned?: number;
  sawServerToken?: boolean;
}

async function readLog(file: string): Promise<Recorded[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Recorded);
}

/** The most calls running at once, from the tools' own record of their starts and ends. */
function maxOverlap(records: Recorded[]): number {
  const events = records.map((r) => [r.at, r.event === 'start' ? 1 : -1] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (now += d));
  return most;
}

function text(result: unknown): string {
  return (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

async function stdioClient(args: string[], env: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, ...args], env: { ...(process.env as Record<string, string>), ...env }, stderr: 'pipe' }));
  return client;
}

const startHttp = (args: string[], env: Record<string, string> = {}): Promise<RunningServer> => spawnListening([CLI, ...args], env);

const runCli = (args: string[]): ReturnType<typeof runToCompletion> => runToCompletion([CLI, ...args]);

describe('mcp-concurrency check', () => {
  it('loads the article\'s gantz.yaml as is and prints its tools and limits', async () => {
    const { code, stdout } = await runCli(['check', '--config', GANTZ]);
    expect(code).toBe(0);
    expect(stdout).toContain('"concurrent-tools", 1 tool(s)');
    expect(stdout).toContain('max_parallel 10, thread_pool_size 20');
    expect(stdout).toContain('rate limit default: 50/s, burst 50 (every tool)');
    expect(stdout).toContain('rate limit api_calls: 10/s, burst 10');
    expect(stdout).toContain('tool parallel_fetch (script python): max_parallel 5');
  });

  it('a config error names the file, line, column and path, and exits 2', async () => {
    const file = await writeConfig('bad.yaml', config({ tools: '  - name: broken\n    concurrency:\n      max_parallel: -1\n    script: { command: echo }\n' }));
    const { code, stderr } = await runCli(['check', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/bad\.yaml:\d+:\d+: tools\[1\]\.concurrency\.max_parallel: expected a positive integer/);
  });

  it('every missing ${VAR} of a config is reported in one run, a prefixed line each, and exits 2', async () => {
    const file = await writeConfig('missing.yaml', config({ concurrency: '  redis_url: ${MCP_TEST_UNSET_A}\n  max_queued: ${MCP_TEST_UNSET_B}\n' }));
    const { code, stderr } = await runCli(['check', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^mcp-concurrency: \S*missing\.yaml:5:14: concurrency\.redis_url: environment variable MCP_TEST_UNSET_A is not set$/m);
    expect(stderr).toMatch(/^mcp-concurrency: \S*missing\.yaml:6:15: concurrency\.max_queued: environment variable MCP_TEST_UNSET_B is not set$/m);
  });
});

describe('serve over stdio (the built CLI, the SDK client)', () => {
  let client: Client;
  let log: string;
  beforeAll(async () => {
    log = join(dir, 'stdio.log');
    const file = await writeConfig('stdio.yaml', config({
      concurrency: '  rate_limits:\n    default:\n      requests_per_second: 1000\n',
      tools: `  - name: garbage
    description: prints garbage
    script: { command: ${node}, args: [${JSON.stringify(RECORD)}, "garbage"], output: json }
  - name: fails
    description: exits early
    script: { command: ${node}, args: [${JSON.stringify(RECORD)}, "fail"] }
  - name: hangs
    description: never exits
    timeout: 300ms
    script: { command: ${node}, args: [${JSON.stringify(RECORD)}, "hang"] }
`,
      more: 'limits:\n  max_argument_bytes: 2048\nbatch: true\n',
    }));
    client = await stdioClient(['serve', '--config', file], { RECORD_LOG: log });
  });
  afterAll(async () => {
    await client?.close();
  });

  it('lists the tools with their JSON Schemas, and the batch tool', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['sleep', 'garbage', 'fails', 'hangs', 'batch']);
    expect(tools[0]!.inputSchema).toMatchObject({ type: 'object', properties: { ms: { type: 'integer' } }, required: ['ms'] });
  });

  it('holds the per-tool cap, as the tools themselves record it', async () => {
    // Each call waits until 3 run at once (the cap), so the cap is reached however slowly processes start;
    // a fourth at once would show in the record.
    const results = await Promise.all(Array.from({ length: 9 }, (_, i) => client.callTool({ name: 'sleep', arguments: { ms: 20, text: `n${i}`, meet: 3 } })));
    expect(results.every((r) => !r.isError)).toBe(true);
    expect(JSON.parse(text(results[4]))).toEqual({ slept: 20, echo: 'n4' });
    expect(maxOverlap(await readLog(log))).toBe(3);
  });

  it('bad input is a clear per-call error, and the server keeps serving', async () => {
    const cases: [string, Record<string, unknown>, string, string][] = [
      ['sleep', { ms: 'soon' }, 'invalid_params', 'Argument "ms" must be an integer, got string'],
      ['sleep', {}, 'invalid_params', 'Missing required argument "ms"'],
      ['sleep', { ms: 1, x: 'y'.repeat(3000) }, 'invalid_params', 'over the 2048-byte limit'],
      ['nope', {}, 'unknown_tool', 'Unknown tool "nope"'],
      ['garbage', {}, 'tool_error', 'printed output that is not JSON'],
      ['fails', {}, 'tool_error', 'exited with code 3: something went wrong: the tail of stderr says why'],
      ['hangs', {}, 'timeout', 'within 300 ms'],
    ];
    for (const [name, args, code, message] of cases) {
      const result = await client.callTool({ name, arguments: args });
      expect(result.isError, name).toBe(true);
      const { error } = JSON.parse(text(result)) as { error: { code: string; message: string } };
      expect(error.code, name).toBe(code);
      expect(error.message, name).toContain(message);
    }
    const after = await client.callTool({ name: 'sleep', arguments: { ms: 1 } });
    expect(after.isError).toBeFalsy();
  });

  it('a hung script is killed on its deadline, with its process group', async () => {
    const before = (await readLog(log)).length;
    await client.callTool({ name: 'hangs', arguments: {} });
    const started = (await readLog(log)).slice(before).find((r) => r.event === 'start')!;
    await vi.waitFor(() => expect(() => process.kill(started.pid, 0)).toThrow(), { timeout: 3_000 });
  });

  it('the batch tool runs a graph: dependencies in order, values passed by $ref, results in order', async () => {
    const result = await client.callTool({
      name: 'batch',
      arguments: {
        calls: [
          { id: 'a', tool: 'sleep', arguments: { ms: 30, text: 'first' } },
          { id: 'b', tool: 'sleep', arguments: { ms: 10, text: { $ref: 'a', path: 'echo' } }, dependsOn: ['a'] },
          { id: 'c', tool: 'fails', dependsOn: [] },
          { id: 'd', tool: 'sleep', arguments: { ms: 1 }, dependsOn: ['c'] },
        ],
      },
    });
    const summary = JSON.parse(text(result)) as { id: string; status: string; result?: { echo: string }; error?: { code: string } }[];
    expect(summary.map((s) => [s.id, s.status])).toEqual([['a', 'ok'], ['b', 'ok'], ['c', 'error'], ['d', 'skipped']]);
    expect(summary[1]!.result!.echo).toBe('first');
    expect(summary[3]!.error!.code).toBe('dependency_failed');
    const cyclic = await client.callTool({ name: 'batch', arguments: { calls: [{ id: 'x', tool: 'sleep', dependsOn: ['x'] }] } });
    expect(JSON.parse(text(cyclic))).toMatchObject({ error: { code: 'invalid_graph', message: 'Dependency cycle: x -> x' } });
  });

  it('batch: arguments that grow past max_argument_bytes once a $ref is filled in are refused with the same error, and nothing runs', async () => {
    const before = (await readLog(log)).filter((r) => r.event === 'start').length;
    const echo = 'y'.repeat(1_500); // under the 2048-byte limit alone, and in the batch's own arguments
    const result = await client.callTool({
      name: 'batch',
      arguments: {
        calls: [
          { id: 'a', tool: 'sleep', arguments: { ms: 1, text: echo } },
          { id: 'b', tool: 'sleep', arguments: { ms: 1, text: { $ref: 'a', path: 'echo' }, again: { $ref: 'a', path: 'echo' } }, dependsOn: ['a'] },
          { id: 'c', tool: 'sleep', arguments: { ms: { $ref: 'a', path: 'slept' } }, dependsOn: ['a'] },
        ],
      },
    });
    const summary = JSON.parse(text(result)) as { id: string; status: string; error?: { code: string; message: string } }[];
    expect(summary.map((s) => [s.id, s.status])).toEqual([['a', 'ok'], ['b', 'error'], ['c', 'ok']]);
    expect(summary[1]!.error!.code).toBe('invalid_params');
    expect(summary[1]!.error!.message).toMatch(/^The arguments are \d+ bytes, over the 2048-byte limit$/);
    // The same words as a written call over the limit.
    const written = await client.callTool({ name: 'sleep', arguments: { ms: 1, text: echo, again: echo } });
    expect(JSON.parse(text(written))).toMatchObject({ error: { code: 'invalid_params', message: expect.stringMatching(/^The arguments are \d+ bytes, over the 2048-byte limit$/) } });
    // a and c ran; b never started.
    expect((await readLog(log)).filter((r) => r.event === 'start').length - before).toBe(2);
  });
});

describe('serve over Streamable HTTP', () => {
  let server: Awaited<ReturnType<typeof startHttp>>;
  let log: string;
  beforeAll(async () => {
    log = join(dir, 'http.log');
    const file = await writeConfig('http.yaml', config({
      concurrency: '  rate_limits:\n    api_calls:\n      requests_per_second: 10\n      burst_size: 2\n',
      tools: `  - name: limited
    description: rate limited
    rate_limit: api_calls
    parameters: [{ name: ms, type: integer }]
    script: { command: ${node}, args: [${JSON.stringify(RECORD)}, "sleep"], output: json }
  - name: one_at_a_time
    description: serial
    concurrency: { max_parallel: 1 }
    parameters: [{ name: ms, type: integer }]
    script: { command: ${node}, args: [${JSON.stringify(RECORD)}, "sleep"], output: json }
`,
    }));
    server = await startHttp(['serve', '--config', file, '--http', '127.0.0.1:0'], { RECORD_LOG: log, MCP_CONCURRENCY_TOKEN: 'sekret' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const connect = async (token = 'sekret'): Promise<Client> => {
    const client = new Client({ name: 'http-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  };

  it('refuses a wrong token, a foreign Origin and a foreign Host', async () => {
    await expect(connect('wrong')).rejects.toThrow();
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer sekret' };
    expect((await fetch(server.url, { method: 'POST', headers: { ...headers, origin: 'http://evil.example' }, body: JSON.stringify(init) })).status).toBe(403);
    const { request } = await import('undici');
    const foreignHost = await request(server.url, { method: 'POST', headers: { ...headers, host: 'evil.example' }, body: JSON.stringify(init) });
    expect(foreignHost.statusCode).toBe(403);
    await foreignHost.body.dump();
  });

  it('holds a rate limit over every window (the tools record their starts)', async () => {
    const client = await connect();
    const before = (await readLog(log)).length;
    const results = await Promise.all(Array.from({ length: 8 }, () => client.callTool({ name: 'limited', arguments: { ms: 1 } })));
    expect(results.every((r) => !r.isError)).toBe(true);
    const started = (await readLog(log)).slice(before).filter((r) => r.event === 'start');
    // The server runs with MCP_CONCURRENCY_TOKEN set; its scripts never see it.
    expect(started.map((r) => r.sawServerToken)).toEqual(Array(8).fill(false));
    // When each process began, not when Node had started in it (that takes 30-300 ms on a busy machine):
    // what is left between the scheduler's grant and the record is fork and exec, well under the one
    // token (100 ms at 10/s) of slack.
    const starts = started.map((r) => r.spawned!).sort((a, b) => a - b);
    for (let i = 0; i < starts.length; i++) {
      for (let j = i; j < starts.length; j++) expect(j - i + 1).toBeLessThanOrEqual(2 + (10 * (starts[j]! - starts[i]!)) / 1000 + 1);
    }
    await client.close();
  });

  it('a queued call with a progressToken hears that it waits', async () => {
    const client = await connect();
    // Long enough that the second call surely finds it running, however late the test's timer fires.
    const first = client.callTool({ name: 'one_at_a_time', arguments: { ms: 2_000 } });
    await new Promise((r) => setTimeout(r, 100));
    const progress: string[] = [];
    const second = await client.callTool({ name: 'one_at_a_time', arguments: { ms: 1 } }, { onprogress: (p) => void progress.push(p.message ?? '') });
    await first;
    expect(second.isError).toBeFalsy();
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0]).toMatch(/^queued: waiting for a slot/);
    await client.close();
  });

  it('cancellation from the client reaches the running script: its process is gone', async () => {
    const client = await connect();
    const before = (await readLog(log)).length;
    const controller = new AbortController();
    const pending = client.callTool({ name: 'sleep', arguments: { ms: 30_000 } }, { signal: controller.signal });
    await vi.waitFor(async () => expect((await readLog(log)).slice(before).some((r) => r.event === 'start')).toBe(true), { timeout: 5_000 });
    const { pid } = (await readLog(log)).slice(before).find((r) => r.event === 'start')!;
    controller.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(() => process.kill(pid, 0)).toThrow(), { timeout: 3_000 });
    await client.close();
  });

  it('serves /metrics beside /mcp, behind the same token', async () => {
    expect((await fetch(server.url.replace('/mcp', '/metrics'))).status).toBe(401);
    const res = await fetch(server.url.replace('/mcp', '/metrics'), { headers: { authorization: 'Bearer sekret' } });
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).toContain('mcp_calls_total{tool="limited",status="ok",service="test-tools"} 8');
  });
});

describe('proxy in front of a plain SDK server', () => {
  it('applies the policies, matched by glob, to an unchanged upstream', async () => {
    const upstreamLog = join(dir, 'upstream.log');
    const file = await writeConfig('proxy.yaml', 'name: proxied\nconcurrency:\n  max_parallel: 10\ntools: []\nproxy:\n  tools:\n    - match: "slow_*"\n      concurrency: { max_parallel: 2 }\n      timeout: 2s\n');
    const client = await stdioClient(['proxy', '--config', file, '--', process.execPath, UPSTREAM], { UPSTREAM_LOG: upstreamLog });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['add_tool', 'ask', 'echo', 'in_region', 'log_and_wait', 'progressing', 'slow_search', 'touch', 'two_questions']);
    const results = await Promise.all(Array.from({ length: 6 }, () => client.callTool({ name: 'slow_search', arguments: { ms: 80 } })));
    expect(results.map((r) => text(r))).toEqual(Array(6).fill('{"slept":80}'));
    const seen = (await readFile(upstreamLog, 'utf8')).split('\n').filter(Boolean).map(Number);
    expect(Math.max(...seen)).toBe(2);
    const timedOut = await client.callTool({ name: 'slow_search', arguments: { ms: 5_000 } });
    expect(JSON.parse(text(timedOut))).toMatchObject({ error: { code: 'timeout' } });
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
    await client.close();
  });

  it('Ctrl-C in a terminal (SIGINT to the whole process group): a running call through a stdio upstream still gets its result', async () => {
    const upstreamLog = join(dir, 'ctrl-c.log');
    const file = await writeConfig('ctrl-c.yaml', 'name: ctrl-c\ntools: []\n');
    const server = await spawnListening([CLI, 'proxy', '--config', file, '--http', '127.0.0.1:0', '--', process.execPath, UPSTREAM], { UPSTREAM_LOG: upstreamLog }, { detached: true });
    const client = new Client({ name: 'ctrl-c', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const pending = client.callTool({ name: 'slow_search', arguments: { ms: 1_500 } });
    // The call is running upstream before the signal: the upstream logs its start.
    await vi.waitFor(async () => expect(await readFile(upstreamLog, 'utf8').catch(() => '')).not.toBe(''), { timeout: 10_000 });
    const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
    process.kill(-server.child.pid!, 'SIGINT');
    expect(text(await pending)).toBe('{"slept":1500}');
    expect(await exited).toBe(0);
  });
});
