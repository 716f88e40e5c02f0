/**
 * Tracing's cost where it is turned on: a no-op tool over Streamable HTTP through mcp-concurrency, with
 * tracing off (no OTEL_* variables), on with the always-on sampler and on with a parent-based 10% ratio
 * sampler, exporting OTLP/HTTP (protobuf, batched) to a receiver on 127.0.0.1 that discards what it
 * gets. autocannon, 20 connections, servers in their own processes, variants alternating, median of REPEATS.
 * Target: always-on within 20% of off. (Off is the untraced server itself: nothing is attached.)
 *
 *   node --import tsx bench/tracing.bench.ts [--json]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { openRawSession, spawnListening, type RunningServer } from '@mcp-concurrency/mcp-adapter/testing';

const json = process.argv.includes('--json');
const log = (s: string): void => void (json || console.error(s));
const DURATION = Number(process.env['BENCH_SECONDS'] ?? 4);
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The collector: reads and drops every export, counting spans' requests only.
let exports = 0;
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

const VARIANTS = {
  off: {},
  always: { OTEL_TRACES_SAMPLER: 'always_on' },
  ratio: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
} as const;
type Variant = keyof typeof VARIANTS;
const servers = {} as Record<Variant, RunningServer>;
const script = fileURLToPath(new URL('./servers.ts', import.meta.url));
for (const [name, env] of Object.entries(VARIANTS) as [Variant, Record<string, string>][]) {
  const otel = name === 'off' ? {} : { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...env };
  servers[name] = await spawnListening(['--import', 'tsx', script, 'ours'], otel);
}

async function cannon(url: string): Promise<number> {
  const id = await openRawSession(url);
  const result = await autocannon({
    url,
    method: 'POST',
    connections: 20,
    duration: DURATION,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'noop', arguments: {} } }),
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

log(`no-op tool over Streamable HTTP, 20 connections, ${DURATION} s x ${REPEATS}, variants alternating...`);
const order = Object.keys(VARIANTS) as Variant[];
for (const v of order) await cannon(servers[v].url); // warm-up
const rps = Object.fromEntries(order.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
for (let r = 0; r < REPEATS; r++) {
  for (let k = 0; k < order.length; k++) {
    const v = order[(k + r) % order.length]!;
    rps[v].push(await cannon(servers[v].url));
  }
}
await Promise.all(order.map((v) => servers[v].stop()));
receiver.close();

const off = median(rps.off);
const result = {
  node: process.version,
  exportsReceived: exports,
  rows: order.map((v) => ({ variant: v, requestsPerSecond: Math.round(median(rps[v])), vsOff: median(rps[v]) / off })),
  target: 'always vsOff >= 0.8',
};
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`Streamable HTTP, no-op tool, autocannon 20 connections x ${DURATION} s, median of ${REPEATS}; ${exports} OTLP exports received`);
  console.table(Object.fromEntries(result.rows.map((r) => [r.variant, { 'requests/s': r.requestsPerSecond, 'vs off': r.vsOff.toFixed(3) }])));
}
