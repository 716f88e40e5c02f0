import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LocalCounter, LocalHistogram } from './local-metrics.js';

describe('local metrics in a prom-client Registry', () => {
  it('expose cumulative buckets, +Inf, sum and count, and reset with the registry', async () => {
    const registry = new Registry();
    const histogram = new LocalHistogram('h_seconds', 'help', ['tool'], [0.1, 1, 0.01], registry);
    const counter = new LocalCounter('c_total', 'help', ['tool'], registry);
    const series = histogram.series({ tool: 'a' });
    for (const v of [0.005, 0.05, 0.5, 5]) series.observe(v);
    counter.series({ tool: 'a' }).inc();
    counter.series({ tool: 'a' }).inc(2);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE h_seconds histogram');
    expect(text).toContain('h_seconds_bucket{tool="a",le="0.01"} 1');
    expect(text).toContain('h_seconds_bucket{tool="a",le="0.1"} 2');
    expect(text).toContain('h_seconds_bucket{tool="a",le="1"} 3');
    expect(text).toContain('h_seconds_bucket{tool="a",le="+Inf"} 4');
    expect(text).toContain('h_seconds_sum{tool="a"} 5.555');
    expect(text).toContain('h_seconds_count{tool="a"} 4');
    expect(text).toContain('c_total{tool="a"} 3');
    registry.resetMetrics();
    expect(await registry.metrics()).toContain('h_seconds_count{tool="a"} 0');
    expect(() => new LocalCounter('c_total', 'again', [], registry)).toThrow(/already been registered/);
  });
});
