/**
 * Tracing's cost where it is turned on: a no-op tool over Streamable HTTP through mcp-concurrency, with
 * tracing off (no OTEL_* variables), on with the always-on sampler and on with a parent-based 10% ratio
 * sampler, exporting OTLP/HTTP (protobuf, batched) to a receiver on 127.0.0.1 that discards what it
 * gets. autocannon, 20 connections, servers in their own processes, variants alternating, median of REPEATS.
 * Targets, judged here (per MCP request, where they matter to users): always-on within 20% of off
 * (>= 0.80), on the server process's CPU per request (Linux /proc; requests/s elsewhere), requests/s shown too. Off is the untraced server itself (no OTEL_* variables: nothing is attached, no SDK
 * loaded), so "off within 1% of no observer" holds by construction here; the scheduler-level bench
 * (tracing-opentelemetry's `npm run bench`) measures it.
 *
 *   node --import tsx bench/tracing.bench.ts [--json]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { openRawSession, spawnListening, type RunningServer } from '@mcp-concurrency/mcp-adapter/testing';
import { cpuMs } from './process-cpu.js';

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

/** One autocannon run: requests/s, and the server's CPU µs per request (less sensitive to other load on the machine). */
async function cannon(server: RunningServer): Promise<{ rps: number; cpuUs: number | undefined }> {
  const url = server.url;
  const id = await openRawSession(url);
  const cpuBefore = cpuMs(server.child.pid);
  const result = await autocannon({
    url,
    method: 'POST',
    connections: 20,
    duration: DURATION,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'noop', arguments: {} } }),
  });
  const cpuAfter = cpuMs(server.child.pid);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  const cpuUs = cpuBefore === undefined || cpuAfter === undefined ? undefined : ((cpuAfter - cpuBefore) * 1000) / result.requests.total;
  return { rps: result.requests.average, cpuUs };
}

log(`no-op tool over Streamable HTTP, 20 connections, ${DURATION} s x ${REPEATS}, variants alternating...`);
const order = Object.keys(VARIANTS) as Variant[];
for (const v of order) await cannon(servers[v]); // warm-up
const rps = Object.fromEntries(order.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
const cpu = Object.fromEntries(order.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
for (let r = 0; r < REPEATS; r++) {
  for (let k = 0; k < order.length; k++) {
    const v = order[(k + r) % order.length]!;
    const sample = await cannon(servers[v]);
    rps[v].push(sample.rps);
    if (sample.cpuUs !== undefined) cpu[v].push(sample.cpuUs);
  }
}
await Promise.all(order.map((v) => servers[v].stop()));
receiver.close();

const off = median(rps.off);
const hasCpu = order.every((v) => cpu[v].length > 0);
const rows = order.map((v) => ({
  variant: v,
  requestsPerSecond: Math.round(median(rps[v])),
  vsOff: median(rps[v]) / off,
  samples: rps[v].map(Math.round),
  // Server CPU per request, and off's CPU per request over it: the throughput ratio were the server CPU-bound.
  cpuUsPerRequest: hasCpu ? median(cpu[v]) : undefined,
  cpuVsOff: hasCpu ? median(cpu.off) / median(cpu[v]) : undefined,
}));
const always = rows.find((r) => r.variant === 'always')!;
const ratio = rows.find((r) => r.variant === 'ratio')!;
// Judged on the server's CPU per request where it is measured (Linux): on a shared machine, with the load
// generator on the same cores, requests/s moves with the neighbours' load far more than 20%; both are shown.
const cpuJudged = always.cpuVsOff !== undefined;
const targets = [
  ...(cpuJudged ? [{ target: 'always-on within 20% of off (server CPU per request)', measured: always.cpuVsOff!, threshold: 0.8, judged: true }] : []),
  { target: 'always-on within 20% of off (requests/s)', measured: always.vsOff, threshold: 0.8, judged: !cpuJudged },
  ...(cpuJudged ? [{ target: '10% ratio sampler within 20% of off (server CPU per request)', measured: ratio.cpuVsOff!, threshold: 0.8, judged: false }] : []),
  { target: '10% ratio sampler within 20% of off (requests/s)', measured: ratio.vsOff, threshold: 0.8, judged: false },
].map((t) => ({ ...t, verdict: `${t.measured >= t.threshold ? 'met' : t.judged ? 'NOT MET' : 'not met'}${t.judged ? ' (judged)' : ' (reported)'}` }));
const result = { node: process.version, exportsReceived: exports, rows, targets };
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`Streamable HTTP, no-op tool, autocannon 20 connections x ${DURATION} s, median of ${REPEATS}; ${exports} OTLP exports received`);
  console.table(
    Object.fromEntries(
      rows.map((r) => [
        r.variant,
        {
          'requests/s': r.requestsPerSecond,
          'vs off': r.vsOff.toFixed(3),
          'server CPU µs/request': r.cpuUsPerRequest?.toFixed(0) ?? '-',
          'CPU vs off': r.cpuVsOff?.toFixed(3) ?? '-',
          samples: r.samples.join(' '),
        },
      ]),
    ),
  );
  console.log('Targets');
  console.table(Object.fromEntries(targets.map((t) => [t.target, { measured: t.measured.toFixed(3), threshold: `>= ${t.threshold}`, verdict: t.verdict }])));
}
