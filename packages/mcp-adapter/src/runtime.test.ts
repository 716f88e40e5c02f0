import type { TokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './config/load.js';
import { ToolRuntime } from './runtime.js';

/** A 2/s tool (burst 1) backed by this Node: each start takes a rate token. */
const YAML = `name: x
concurrency:
  rate_limits:
    api: { requests_per_second: 2, burst_size: 1 }
tools:
  - name: square
    rate_limit: api
    parameters: [{ name: n, type: integer, required: true }]
    script: { command: ${JSON.stringify(process.execPath)}, args: ["-e", "process.stdout.write(String({{n}} ** 2))"] }
`;

describe('invalid arguments are refused before the call takes anything', () => {
  it('six bad calls to a 2/s tool take no rate token; the next valid call takes the first', async () => {
    const runtime = await ToolRuntime.create(parseConfig(YAML, 'x.yaml', {}));
    const bucket = runtime.scheduler.limiters.get('api') as TokenBucket;
    const settled: string[] = [];
    runtime.scheduler.addObserver({ onSettled: (r) => void settled.push(r.status) });
    const bad = [{}, { n: 'two' }, { n: 1.5 }, { n: 2, extra: true }, [], 'n=2'];
    const results = await Promise.all(bad.map((args) => runtime.call('square', args)));
    expect(results.map((r) => [r.status, r.error?.code, r.attempts])).toEqual(bad.map(() => ['error', 'invalid_params', 0]));
    expect(results[0]!.error!.message).toBe('Missing required argument "n" (integer)');
    expect(bucket.granted).toBe(0);
    expect(settled).toEqual(bad.map(() => 'error')); // observed (metrics count them) like any call
    const ok = await runtime.call('square', { n: 3 });
    expect([ok.status, ok.value]).toEqual(['ok', '9']);
    expect(bucket.granted).toBe(1);
    await runtime.close();
  });

  it('in a graph too: a bad call settles as invalid_params without a token, its dependents are skipped', async () => {
    const runtime = await ToolRuntime.create(parseConfig(YAML, 'x.yaml', {}));
    const bucket = runtime.scheduler.limiters.get('api') as TokenBucket;
    const results = await runtime.graph([
      { id: 'bad', tool: 'square', params: { n: 'x' } },
      { id: 'after', tool: 'square', params: { n: 1 }, dependsOn: ['bad'] },
      { id: 'good', tool: 'square', params: { n: 4 } },
    ]);
    expect(results.map((r) => [r.id, r.status, r.error?.code])).toEqual([
      ['bad', 'error', 'invalid_params'],
      ['after', 'skipped', 'dependency_failed'],
      ['good', 'ok', undefined],
    ]);
    expect(results[0]!.error!.message).toBe('Argument "n" must be an integer, got string');
    expect(bucket.granted).toBe(1);
    await runtime.close();
  });
});
