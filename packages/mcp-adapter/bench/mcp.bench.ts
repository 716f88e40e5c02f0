/**
 * mcp-adapter in one run, every server in its own process on 127.0.0.1:
 *  1. autocannon against Streamable HTTP, a no-op tool: our server vs a bare SDK server (>= 0.9);
 *  2. the proxy's added latency (p50, p99) over the upstream alone;
 *  3. 10 concurrent calls to a 200 ms tool with max_parallel 10 from one SDK client (<= 1.1 x 200 ms).
 *
 *   npm run bench -w packages/mcp-adapter [-- --json]
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import autocannon from 'autocannon';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { CLI_PATH, openRawSession, spawnListening, type RunningServer } from '@mcp-concurrency/mcp-adapter/testing';

const json = process.argv.includes('--json');
const log = (s: string): void => void (json || console.error(s));
const DURATION = Number(process.env['BENCH_SECONDS'] ?? 4);
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

const server = (kind: string): Promise<RunningServer> => spawnListening(['--import', 'tsx', here('./servers.ts'), kind]);

async function cannon(url: string, connections = 20): Promise<autocannon.Result> {
  const id = await openRawSession(url);
  return autocannon({
    url,
    method: 'POST',
    connections,
    duration: DURATION,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'noop', arguments: {} } }),
  });
}

/** A real SDK call first: a fast JSON-RPC error must not pass for a request served. */
async function check(url: string): Promise<void> {
  const client = new Client({ name: 'bench-check', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const result = await client.callTool({ name: 'noop', arguments: {} });
  const text = (result.content as { text?: string }[])[0]?.text;
  if (result.isError || text !== 'ok') throw new Error(`${url} answered ${JSON.stringify(result)}`);
  await client.close();
}

log(`1. autocannon, no-op tool, 20 connections, ${DURATION} s x ${REPEATS} alternating...`);
const bare = await server('bare');
const ours = await server('ours');
await check(bare.url);
await check(ours.url);
const rps = { bare: [] as number[], ours: [] as number[] };
await cannon(bare.url); // warm-up
await cannon(ours.url);
for (let r = 0; r < REPEATS; r++) {
  for (const [name, s] of r % 2 === 0 ? ([['bare', bare], ['ours', ours]] as const) : ([['ours', ours], ['bare', bare]] as const)) {
    const result = await cannon(s.url);
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    rps[name].push(result.requests.average);
  }
}

log('2. proxy latency over the upstream alone (one connection: the hop, not queueing)...');
const dir = await mkdtemp(join(tmpdir(), 'mcpc-bench-'));
const proxyConfig = join(dir, 'proxy.yaml');
await writeFile(proxyConfig, 'name: bench-proxy\nconcurrency:\n  max_parallel: 64\ntools: []\n');
const proxy = await spawnListening([CLI_PATH, 'proxy', '--config', proxyConfig, '--http', '127.0.0.1:0', '--upstream', bare.url]);
await check(proxy.url);
const latency = { upstream: { p50: [] as number[], p99: [] as number[] }, proxy: { p50: [] as number[], p99: [] as number[] } };
for (let r = 0; r < REPEATS; r++) {
  const up = await cannon(bare.url, 1);
  const via = await cannon(proxy.url, 1);
  latency.upstream.p50.push(up.latency.p50);
  latency.upstream.p99.push(up.latency.p99);
  latency.proxy.p50.push(via.latency.p50);
  latency.proxy.p99.push(via.latency.p99);
}

log('3. 10 concurrent calls to a 200 ms tool, max_parallel 10, one client...');
const client = new Client({ name: 'bench', version: '1' });
await client.connect(new StreamableHTTPClientTransport(new URL(ours.url)));
const concurrent: number[] = [];
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  await Promise.all(Array.from({ length: 10 }, () => client.callTool({ name: 'sleep200', arguments: {} })));
  concurrent.push(performance.now() - t);
}
const t = performance.now();
for (let i = 0; i < 10; i++) await client.callTool({ name: 'sleep200', arguments: {} });
const oneByOne = performance.now() - t;
await client.close();

await Promise.all([bare, ours, proxy].map((s) => s.stop()));

const result = {
  node: process.version,
  throughput: { bareSdkRps: Math.round(median(rps.bare)), oursRps: Math.round(median(rps.ours)), ratio: median(rps.ours) / median(rps.bare), target: 'ratio >= 0.9' },
  proxyLatencyMs: {
    upstreamP50: median(latency.upstream.p50),
    upstreamP99: median(latency.upstream.p99),
    proxyP50: median(latency.proxy.p50),
    proxyP99: median(latency.proxy.p99),
    addedP50: median(latency.proxy.p50) - median(latency.upstream.p50),
    addedP99: median(latency.proxy.p99) - median(latency.upstream.p99),
  },
  tenCalls200ms: { concurrentMs: median(concurrent), vsIdeal: median(concurrent) / 200, oneByOneMs: oneByOne, target: 'vsIdeal <= 1.1' },
};
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`Streamable HTTP, no-op tool, autocannon 20 connections x ${DURATION} s, median of ${REPEATS}`);
  console.table({ 'bare SDK server': { 'requests/s': result.throughput.bareSdkRps }, 'mcp-concurrency server': { 'requests/s': result.throughput.oursRps, 'vs bare': result.throughput.ratio.toFixed(3) } });
  console.log('Proxy latency, one connection, no-op tool (ms)');
  console.table({
    'upstream alone': { p50: result.proxyLatencyMs.upstreamP50, p99: result.proxyLatencyMs.upstreamP99 },
    'through the proxy': { p50: result.proxyLatencyMs.proxyP50, p99: result.proxyLatencyMs.proxyP99 },
    added: { p50: result.proxyLatencyMs.addedP50, p99: result.proxyLatencyMs.addedP99 },
  });
  console.log('10 concurrent calls to a 200 ms tool, max_parallel 10, one SDK client');
  console.table({ concurrent: { 'wall ms': result.tenCalls200ms.concurrentMs.toFixed(1), 'vs 200 ms': result.tenCalls200ms.vsIdeal.toFixed(3) }, 'one by one': { 'wall ms': oneByOne.toFixed(0), 'vs 200 ms': (oneByOne / 200).toFixed(2) } });
}
