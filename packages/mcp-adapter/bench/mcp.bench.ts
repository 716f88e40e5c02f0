/**
 * mcp-adapter in one run, every server in its own process on 127.0.0.1, each figure on both protocol
 * revisions (2025-11-25: a session; 2026-07-28: no session, the `_meta` envelope and Mcp-* headers):
 *  1. autocannon against Streamable HTTP, a no-op tool: our server vs a bare SDK v2 server (>= 0.95), in req/s
 *     and, on Linux, in server CPU time per request (bare's / ours: the figure a busy machine disturbs least);
 *  2. the proxy's added latency (p50, p99, fractional ms) over the upstream alone (<= +1 ms / +3 ms): one
 *     keep-alive connection to each, requests alternating between them, timed with process.hrtime.bigint(),
 *     warm-up discarded, the median of the rounds' p50 and p99;
 *  3. 10 concurrent calls to a 200 ms tool with max_parallel 10 from one SDK client (<= 1.1 x 200 ms).
 *
 *   npm run bench -w packages/mcp-adapter [-- --json]
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import autocannon from 'autocannon';
import { Client as UndiciClient } from 'undici';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { CLI_PATH, openRawSession, spawnListening, type RunningServer } from '@mcp-concurrency/mcp-adapter/testing';
import { cpuMs } from './process-cpu.js';

const json = process.argv.includes('--json');
const log = (s: string): void => void (json || console.error(s));
const DURATION = Number(process.env['BENCH_SECONDS'] ?? 4);
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

const server = (kind: string): Promise<RunningServer> => spawnListening(['--import', 'tsx', here('./servers.ts'), kind]);

type Revision = '2025-11-25' | '2026-07-28';
const REVISIONS: readonly Revision[] = ['2025-11-25', '2026-07-28'];
const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'noop', arguments: {} } };

/** What one request of each revision carries: a session (2025-11-25), or the envelope and headers (2026-07-28). */
async function request(url: string, revision: Revision): Promise<{ headers: Record<string, string>; body: string }> {
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (revision === '2025-11-25') return { headers: { ...base, 'mcp-session-id': await openRawSession(url), 'mcp-protocol-version': revision }, body: JSON.stringify(call) };
  const _meta = { 'io.modelcontextprotocol/protocolVersion': revision, 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
  return {
    headers: { ...base, 'mcp-protocol-version': revision, 'mcp-method': 'tools/call', 'mcp-name': 'noop' },
    body: JSON.stringify({ ...call, params: { ...call.params, _meta } }),
  };
}

async function cannon(url: string, revision: Revision, connections = 20): Promise<autocannon.Result> {
  const { headers, body } = await request(url, revision);
  return autocannon({ url, method: 'POST', connections, duration: DURATION, headers, body });
}


const LATENCY_REQUESTS = Number(process.env['BENCH_LATENCY_REQUESTS'] ?? 1_000);
const LATENCY_WARMUP = 200;
/** The q-quantile (0..1) of `xs`, nearest rank. */
const percentile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;

/**
 * One keep-alive connection (undici Client, no pipelining) sending the no-op call one request at a time:
 * `once()` is one request's latency in ms (fractional, `process.hrtime.bigint()`), the whole body read
 * (the SSE stream of a 2025-11-25 session ends with the result). A non-2xx or an answer without the
 * tool's "ok" throws: a fast error must not pass for a request served.
 */
async function timedCaller(url: string, revision: Revision): Promise<{ once: () => Promise<number>; close: () => Promise<void> }> {
  const { headers, body } = await request(url, revision);
  const { origin, pathname } = new URL(url);
  const client = new UndiciClient(origin, { pipelining: 1 });
  return {
    once: async () => {
      const start = process.hrtime.bigint();
      const res = await client.request({ path: pathname, method: 'POST', headers, body });
      const text = await res.body.text();
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (res.statusCode !== 200 || !text.includes('"text":"ok"')) throw new Error(`${url} (${revision}): HTTP ${res.statusCode} ${text.slice(0, 200)}`);
      return ms;
    },
    close: () => client.close(),
  };
}

/** A real SDK call first, on each revision: a fast JSON-RPC error must not pass for a request served. */
async function check(url: string): Promise<void> {
  for (const revision of REVISIONS) {
    const client = new Client({ name: 'bench-check', version: '1' }, revision === '2026-07-28' ? { versionNegotiation: { mode: { pin: revision } } } : {});
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const result = await client.callTool({ name: 'noop', arguments: {} });
    const text = (result.content as { text?: string }[])[0]?.text;
    if (result.isError || text !== 'ok') throw new Error(`${url} (${revision}) answered ${JSON.stringify(result)}`);
    await client.close();
  }
}

log(`1. autocannon, no-op tool, 20 connections, ${DURATION} s x ${REPEATS} alternating, on both revisions...`);
const bare = await server('bare');
const ours = await server('ours');
await check(bare.url);
await check(ours.url);
const rps = Object.fromEntries(REVISIONS.map((v) => [v, { bare: [] as number[], ours: [] as number[] }]));
const cpu = Object.fromEntries(REVISIONS.map((v) => [v, { bare: [] as number[], ours: [] as number[] }]));
for (const revision of REVISIONS) {
  await cannon(bare.url, revision); // warm-up
  await cannon(ours.url, revision);
  for (let r = 0; r < REPEATS; r++) {
    for (const [name, s] of r % 2 === 0 ? ([['bare', bare], ['ours', ours]] as const) : ([['ours', ours], ['bare', bare]] as const)) {
      const before = cpuMs(s.child.pid);
      const result = await cannon(s.url, revision);
      const after = cpuMs(s.child.pid);
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${name} (${revision}): ${result.non2xx} non-2xx, ${result.errors} errors`);
      rps[revision]![name].push(result.requests.average);
      if (before !== undefined && after !== undefined) cpu[revision]![name].push(((after - before) * 1000) / result.requests.total);
    }
  }
}

log(`2. proxy latency over the upstream alone: one keep-alive connection each, requests alternating upstream/proxy, ${LATENCY_REQUESTS} pairs x ${REPEATS} rounds, on both revisions...`);
const dir = await mkdtemp(join(tmpdir(), 'mcpc-bench-'));
const proxyConfig = join(dir, 'proxy.yaml');
await writeFile(proxyConfig, 'name: bench-proxy\nconcurrency:\n  max_parallel: 64\ntools: []\n');
const proxy = await spawnListening([CLI_PATH, 'proxy', '--config', proxyConfig, '--http', '127.0.0.1:0', '--upstream', bare.url]);
await check(proxy.url);
const latency = Object.fromEntries(REVISIONS.map((v) => [v, { upstream: { p50: [] as number[], p99: [] as number[] }, proxy: { p50: [] as number[], p99: [] as number[] } }]));
for (const revision of REVISIONS) {
  const up = await timedCaller(bare.url, revision);
  const via = await timedCaller(proxy.url, revision);
  for (let i = 0; i < LATENCY_WARMUP; i++) {
    await up.once();
    await via.once();
  }
  for (let r = 0; r < REPEATS; r++) {
    const ups: number[] = [];
    const vias: number[] = [];
    // Alternating one by one (upstream, proxy, upstream...): a noisy neighbour hits both alike.
    for (let i = 0; i < LATENCY_REQUESTS; i++) {
      ups.push(await up.once());
      vias.push(await via.once());
    }
    latency[revision]!.upstream.p50.push(percentile(ups, 0.5));
    latency[revision]!.upstream.p99.push(percentile(ups, 0.99));
    latency[revision]!.proxy.p50.push(percentile(vias, 0.5));
    latency[revision]!.proxy.p99.push(percentile(vias, 0.99));
  }
  await Promise.all([up.close(), via.close()]);
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
  throughput: Object.fromEntries(
    REVISIONS.map((v) => {
      const c = cpu[v]!;
      const cpuFigures = c.bare.length === 0 ? {} : { bareCpuUsPerRequest: median(c.bare), oursCpuUsPerRequest: median(c.ours), cpuRatio: median(c.bare) / median(c.ours) };
      return [v, { bareSdkRps: Math.round(median(rps[v]!.bare)), oursRps: Math.round(median(rps[v]!.ours)), ratio: median(rps[v]!.ours) / median(rps[v]!.bare), ...cpuFigures, target: 'ratio >= 0.95' }];
    }),
  ),
  proxyLatencyMs: Object.fromEntries(
    REVISIONS.map((v) => {
      const l = latency[v]!;
      return [v, { upstreamP50: median(l.upstream.p50), upstreamP99: median(l.upstream.p99), proxyP50: median(l.proxy.p50), proxyP99: median(l.proxy.p99), addedP50: median(l.proxy.p50) - median(l.upstream.p50), addedP99: median(l.proxy.p99) - median(l.upstream.p99), target: 'added <= +1 ms / +3 ms' }];
    }),
  ),
  tenCalls200ms: { concurrentMs: median(concurrent), vsIdeal: median(concurrent) / 200, oneByOneMs: oneByOne, target: 'vsIdeal <= 1.1' },
};
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`Streamable HTTP, no-op tool, autocannon 20 connections x ${DURATION} s, median of ${REPEATS}`);
  console.table(
    Object.fromEntries(
      REVISIONS.map((v) => {
        const t = result.throughput[v]!;
        const cpuColumns = t.cpuRatio === undefined ? {} : { 'bare CPU µs/req': t.bareCpuUsPerRequest!.toFixed(1), 'ours CPU µs/req': t.oursCpuUsPerRequest!.toFixed(1), 'vs bare (CPU)': t.cpuRatio.toFixed(3) };
        return [v, { 'bare SDK v2 req/s': t.bareSdkRps, 'mcp-concurrency req/s': t.oursRps, 'vs bare': t.ratio.toFixed(3), ...cpuColumns }];
      }),
    ),
  );
  console.log(`Proxy latency, one keep-alive connection each, alternating, no-op tool (ms, median of ${REPEATS} rounds of ${LATENCY_REQUESTS})`);
  console.table(Object.fromEntries(REVISIONS.map((v) => { const l = result.proxyLatencyMs[v]!; const ms = (x: number): string => x.toFixed(3);
    return [v, { 'upstream p50': ms(l.upstreamP50), 'upstream p99': ms(l.upstreamP99), 'proxy p50': ms(l.proxyP50), 'proxy p99': ms(l.proxyP99), 'added p50': ms(l.addedP50), 'added p99': ms(l.addedP99) }]; })));
  console.log('10 concurrent calls to a 200 ms tool, max_parallel 10, one SDK client');
  console.table({ concurrent: { 'wall ms': result.tenCalls200ms.concurrentMs.toFixed(1), 'vs 200 ms': result.tenCalls200ms.vsIdeal.toFixed(3) }, 'one by one': { 'wall ms': oneByOne.toFixed(0), 'vs 200 ms': (oneByOne / 200).toFixed(2) } });
}
