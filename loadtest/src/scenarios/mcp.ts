import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_PATH, openRawSession, spawnListening } from '@mcp-concurrency/mcp-adapter/testing';
import { startMockServer } from '@mcp-concurrency/pool-http/testing';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import autocannon from 'autocannon';
import type { ScenarioResult } from '../model.js';
import { spread } from '../stats.js';
import { record, summarise, type Samples, type ScenarioOptions } from './common.js';

const BARE_SERVER = fileURLToPath(new URL('../fixtures/bare-mcp-server.js', import.meta.url));
const ANCHOR = 'the SDK alone';

/**
 * MCP end to end: `mcp-concurrency serve` (the built CLI) over Streamable HTTP with http tools in front
 * of a mock API. An SDK client's 10 parallel calls to a 100 ms tool against one by one, and against the
 * anchor: the same calls to the official SDK's server alone, with the same tool and no policy (what we
 * add costs this much); then autocannon against a zero-latency tool (requests/s, p50, p99, errors).
 */
export async function mcpScenario(options: ScenarioOptions): Promise<ScenarioResult[]> {
  const api = await startMockServer({ latencyMs: 100 });
  const dir = await mkdtemp(join(tmpdir(), 'mcpc-loadtest-'));
  const config = join(dir, 'tools.yaml');
  await writeFile(config, `name: loadtest
concurrency:
  max_parallel: 32
http:
  allow_private_network: true
tools:
  - name: slow_api
    description: an API that takes 100 ms
    concurrency: { max_parallel: 10 }
    http: { url: "${api.origin}/latency/100" }
  - name: fast_api
    description: an API that answers at once
    http: { url: "${api.origin}/latency/0" }
`);
  const server = await spawnListening([CLI_PATH, 'serve', '--config', config, '--http', '127.0.0.1:0']);
  const bare = await spawnListening([BARE_SERVER, `${api.origin}/latency/100`]).catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
  const url = server.url;
  try {
    const client = new Client({ name: 'loadtest', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const anchor = new Client({ name: 'loadtest', version: '0.0.0' });
    await anchor.connect(new StreamableHTTPClientTransport(new URL(bare.url)));
    const samples: Samples = {};
    const call = async (): Promise<number> => ((await client.callTool({ name: 'slow_api', arguments: {} })).isError ? 1 : 0);
    const callBare = async (): Promise<number> => ((await anchor.callTool({ name: 'slow_api', arguments: {} })).isError ? 1 : 0);
    await call();
    await callBare();
    // Ten calls of 100 ms take about 110 ms: one batch is at the mercy of a busy machine's scheduler, so a
    // repeat's figure is the median of ROUNDS batches, ours and the anchor's alternating.
    const ROUNDS = 5;
    const batch = async (one: () => Promise<number>): Promise<{ wall: number; errors: number }> => {
      const t0 = performance.now();
      const errors = (await Promise.all(Array.from({ length: 10 }, one))).reduce((a, b) => a + b, 0);
      return { wall: performance.now() - t0, errors };
    };
    for (let r = 0; r < options.repeats; r++) {
      options.progress.step(`mcp: 10 calls one by one (run ${r + 1}/${options.repeats})`);
      const t0 = performance.now();
      let errors = 0;
      for (let i = 0; i < 10; i++) errors += await call();
      record(samples, 'sequential', performance.now() - t0, errors);
      options.progress.step(`mcp: 10 parallel calls, ours and the SDK alone by turns (run ${r + 1}/${options.repeats})`);
      const rounds = { ours: [] as { wall: number; errors: number }[], anchor: [] as { wall: number; errors: number }[] };
      for (let k = 0; k < ROUNDS; k++) {
        rounds.anchor.push(await batch(callBare));
        rounds.ours.push(await batch(call));
      }
      const sum = (xs: { errors: number }[]): number => xs.reduce((a, x) => a + x.errors, 0);
      record(samples, ANCHOR, spread(rounds.anchor.map((x) => x.wall)).median, sum(rounds.anchor));
      record(samples, 'mcp-concurrency', spread(rounds.ours.map((x) => x.wall)).median, sum(rounds.ours));
    }
    await client.close();
    await anchor.close();

    options.progress.step('mcp: autocannon against the zero-latency tool');
    const id = await openRawSession(url);
    const rps: number[] = [];
    const p50: number[] = [];
    const p99: number[] = [];
    let failed = 0;
    for (let r = 0; r < options.repeats; r++) {
      const result = await autocannon({
        url,
        method: 'POST',
        connections: 16,
        duration: options.quick ? 2 : 4,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'fast_api', arguments: {} } }),
      });
      rps.push(result.requests.average);
      p50.push(result.latency.p50);
      p99.push(result.latency.p99);
      failed += result.errors + result.non2xx;
    }
    return [
      { scenario: 'mcp-parallel', title: 'MCP end to end: 10 parallel tools/call to a 100 ms http tool (max_parallel 10) vs one by one and vs the SDK alone', contenders: summarise(samples, 100, new Set(['mcp-concurrency']), { anchor: ANCHOR, slowdown: options.slowdown }) },
      {
        scenario: 'mcp-load',
        title: 'MCP end to end: autocannon, 16 connections, tools/call to a zero-latency http tool',
        contenders: [{ contender: 'mcp-concurrency serve', ours: false, errors: failed, note: `${spread(rps).median.toFixed(0)} requests/s (${spread(rps).min.toFixed(0)}-${spread(rps).max.toFixed(0)}), p50 ${spread(p50).median} ms, p99 ${spread(p99).median} ms` }],
      },
    ];
  } finally {
    await server.stop();
    await bare.stop();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
}
