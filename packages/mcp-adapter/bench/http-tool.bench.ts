/**
 * The YAML http tool end to end through the runtime (what the MCP server calls for every tools/call),
 * one call at a time against a zero-latency server on 127.0.0.1, in one run:
 *  - bare undici.request (the floor);
 *  - now: the http tool as the runtime builds it (one HttpClient attempt under the runtime's scheduler);
 *  - before: the same tool calling HttpPool.request (a second scheduler and deadline inside the tool).
 * Overhead per call = median µs per call minus the bare median.
 *
 *   npm run bench:http -w packages/mcp-adapter [-- --json]
 */
// The benchmark measures the built packages, as users get them.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { parseConfig, ToolRuntime } from '@mcp-concurrency/mcp-adapter';
import { HttpPool } from '@mcp-concurrency/pool-http';
import { startMockServer } from '@mcp-concurrency/pool-http/testing';
import { Agent, request } from 'undici';

const json = process.argv.includes('--json');
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const CALLS = 2_000;
const log = (s: string): void => void (json || console.error(s));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const server = await startMockServer();
const runtime = await ToolRuntime.create(
  parseConfig(`name: bench\nconcurrency: { max_parallel: 10, timeout: 30s }\nhttp: { allow_private_network: true }\ntools:\n  - name: now\n    http: { url: "${server.url}" }\n`, 'bench.yaml', {}),
);
const pool = new HttpPool({ allowPrivateNetwork: true, retry: 0 });
runtime.addTool(
  {
    name: 'before',
    description: 'HttpPool.request inside the tool',
    inputSchema: { type: 'object' },
    run: async (_args: Record<string, unknown>, ctx: { signal: AbortSignal }) => {
      const { status, body } = await pool.request({ url: server.url, timeoutMs: 30_000 }, { signal: ctx.signal });
      return { status, body };
    },
  },
  { timeoutMs: 30_000 },
);
const agent = new Agent({ connections: 10 });

const variants: Record<string, () => Promise<unknown>> = {
  'undici.request (bare)': async () => {
    const { body } = await request(server.url, { dispatcher: agent });
    await body.json();
  },
  'http tool, now (HttpClient under the runtime scheduler)': async () => {
    const r = await runtime.call('now', {});
    if (r.status !== 'ok') throw new Error(r.error?.message);
  },
  'http tool, before (HttpPool.request inside the tool)': async () => {
    const r = await runtime.call('before', {});
    if (r.status !== 'ok') throw new Error(r.error?.message);
  },
};
const names = Object.keys(variants);
const perCall = new Map<string, number[]>(names.map((n) => [n, []]));
log(`${CALLS} sequential calls per variant, ${2 * REPEATS + 1} rounds, order rotated...`);
for (const name of names) for (let i = 0; i < 200; i++) await variants[name]!(); // warm-up
for (let r = 0; r < 2 * REPEATS + 1; r++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(r + k) % names.length]!;
    const run = variants[name]!;
    const start = performance.now();
    for (let i = 0; i < CALLS; i++) await run();
    perCall.get(name)!.push(((performance.now() - start) * 1000) / CALLS);
  }
}
await Promise.all([runtime.close(), pool.close(), agent.close()]);
await server.close();

const bare = median(perCall.get(names[0]!)!);
const result = Object.fromEntries(names.map((n) => [n, { usPerCall: median(perCall.get(n)!), overheadUs: median(perCall.get(n)!) - bare }]));
if (json) console.log(JSON.stringify({ node: process.version, calls: CALLS, rounds: 2 * REPEATS + 1, result }, null, 2));
else {
  console.log(`One call at a time, zero-latency server, median of ${2 * REPEATS + 1} rounds of ${CALLS} calls`);
  console.table(Object.fromEntries(names.map((n) => [n, { 'µs per call': result[n]!.usPerCall.toFixed(1), 'overhead µs': result[n]!.overheadUs.toFixed(1) }])));
}
