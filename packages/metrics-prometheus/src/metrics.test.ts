import { readFileSync } from 'node:fs';
import { McpConcurrencyError, Scheduler, type Tool } from '@mcp-concurrency/core-scheduler';
import { Gauge, Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { startMetricsServer } from './http.js';
import { PrometheusMetrics } from './metrics.js';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Parses Prometheus text exposition into `name{labels}` -> value, labels sorted by name. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`).sort();
    samples.set(labels.length ? `${match[1]}{${labels.join(',')}}` : match[1]!, Number(match[3]));
  }
  return samples;
}

async function scrape(url: string, accept?: string): Promise<{ text: string; type: string | null }> {
  const res = await fetch(url, { headers: accept ? { accept } : {} });
  return { text: await res.text(), type: res.headers.get('content-type') };
}

describe('PrometheusMetrics over a real scrape', () => {
  it('counts what happened: 7 ok, 2 timeout, 1 queue_full; gauges back to 0 after drain', async () => {
    const registry = new Registry();
    const metrics = new PrometheusMetrics({ registry, labels: { service: 'test' } });
    const fast: Tool = { name: 'fast', run: async () => delay(2) };
    // The slow calls time out after 20 ms, but keep their slots (as the scheduler guarantees) until the
    // test lets them go: the mid-run scrape sees 2 running and 7 queued however slow the machine is.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: Tool = { name: 'slow', run: async (_p, ctx) => {
      await new Promise((r) => ctx.signal.addEventListener('abort', r));
      await gate;
      throw ctx.signal.reason;
    }, policy: { timeoutMs: 20 } };
    const scheduler = new Scheduler({ maxParallel: 2, maxQueued: 7, tools: [fast, slow] });
    metrics.attach(scheduler);
    metrics.addPool('pg', () => ({ total: 10, idle: 7, waiting: 0 }));
    const server = await startMetricsServer(registry, { port: 0 });
    try {
      const calls = [
        ...Array.from({ length: 2 }, () => ({ tool: 'slow' })),
        ...Array.from({ length: 7 }, () => ({ tool: 'fast' })),
        { tool: 'fast' }, // the 8th waiting call: queue_full (2 running, 7 queued)
      ];
      const pending = scheduler.runBatch(calls);
      const during = parse((await scrape(server.url)).text);
      expect(during.get('mcp_concurrent_operations{service="test",tool="slow"}')).toBe(2);
      expect(during.get('mcp_queued_calls{service="test",tool="fast"}')).toBe(7);
      release();
      const results = await pending;
      expect(results.map((r) => r.status).sort()).toEqual([...Array(7).fill('ok'), 'rejected', 'timeout', 'timeout'].sort());
      await scheduler.drain();

      const { text, type } = await scrape(server.url);
      expect(type).toContain('text/plain');
      const after = parse(text);
      expect(after.get('mcp_calls_total{service="test",status="ok",tool="fast"}')).toBe(7);
      expect(after.get('mcp_calls_total{service="test",status="timeout",tool="slow"}')).toBe(2);
      expect(after.get('mcp_rejections_total{reason="queue_full",service="test",tool="fast"}')).toBe(1);
      expect(after.get('mcp_rejections_total{reason="timeout",service="test",tool="slow"}')).toBe(2);
      expect(after.get('mcp_operation_errors_total{code="timeout",service="test",tool="slow"}')).toBe(2);
      expect(after.get('mcp_operation_duration_seconds_count{service="test",status="ok",tool="fast"}')).toBe(7);
      expect(after.get('mcp_operation_duration_seconds_sum{service="test",status="timeout",tool="slow"}')).toBeGreaterThanOrEqual(0.036); // two 20 ms timeouts; a ms timer may fire up to ~1 ms early
      expect(after.get('mcp_queue_wait_seconds_count{service="test",tool="fast"}')).toBe(7);
      expect(after.get('mcp_concurrent_operations{service="test",tool="slow"}')).toBe(0);
      expect(after.get('mcp_concurrent_operations{service="test",tool="fast"}')).toBe(0);
      expect(after.get('mcp_queued_calls{service="test",tool="fast"}')).toBe(0);
      expect(after.get('mcp_pool_connections{pool="pg",service="test",state="idle"}')).toBe(7);

      const open = await scrape(server.url, 'application/openmetrics-text; version=1.0.0');
      expect(open.type).toContain('application/openmetrics-text');
      expect(open.text.trimEnd().endsWith('# EOF')).toBe(true);
      expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('keeps two registries apart, guards label cardinality, and records retries, skips and limiter waits', async () => {
    const r1 = new Registry();
    const r2 = new Registry();
    const m1 = new PrometheusMetrics({ registry: r1, prefix: 'a_' });
    new PrometheusMetrics({ registry: r2, prefix: 'a_' });
    let attempt = 0;
    const scheduler = new Scheduler({
      limiters: { gate: { acquire: async () => ({ release() {} }) } },
      tools: [
        { name: 'flaky', policy: { retry: { retries: 1, minDelayMs: 1 }, limiters: ['gate'] }, run: () => {
          if (++attempt === 1) throw new McpConcurrencyError('http_error', '503', { retryable: true });
          return 'ok';
        } },
        { name: 'fails', run: () => { throw new Error('x'); } },
      ],
    });
    m1.attach(scheduler);
    await scheduler.runGraph([
      { id: 'f', tool: 'flaky' },
      { id: 'bad', tool: 'fails' },
      { id: 'child', tool: 'flaky', dependsOn: ['bad'] },
      { id: 'u', tool: 'no-such-tool-with-a-url-like-name' },
    ]);
    const one = parse(await r1.metrics());
    expect(one.get('a_retries_total{tool="flaky"}')).toBe(1);
    expect(one.get('a_dependency_skips_total{tool="flaky"}')).toBe(1);
    expect(one.get('a_limiter_wait_seconds_count{limiter="gate"}')).toBeGreaterThanOrEqual(2);
    expect(one.get('a_operation_errors_total{code="unknown_tool",tool="other"}')).toBe(1);
    expect([...one.keys()].some((k) => k.includes('no-such-tool'))).toBe(false);
    const two = parse(await r2.metrics());
    expect(two.get('a_retries_total{tool="flaky"}')).toBeUndefined();
  });

  it('a tool registered after attach() is `other` until addTool() names it; an explicit tools list wins', async () => {
    const registry = new Registry();
    const metrics = new PrometheusMetrics({ registry });
    const scheduler = new Scheduler();
    metrics.attach(scheduler);
    scheduler.register({ name: 'late', run: async () => 'ok' });
    await scheduler.run({ tool: 'late' });
    metrics.addTool('late');
    await scheduler.run({ tool: 'late' });
    await scheduler.run({ tool: 'late' });
    const samples = parse(await registry.metrics());
    expect(samples.get('mcp_calls_total{status="ok",tool="other"}')).toBe(1);
    expect(samples.get('mcp_calls_total{status="ok",tool="late"}')).toBe(2);
    const fixed = new PrometheusMetrics({ registry: new Registry(), tools: ['a'] });
    fixed.addTool('late');
    expect(() => fixed.addTool('')).toThrow(McpConcurrencyError);
  });

  it('the Grafana dashboard queries only metric names this package exports', async () => {
    const registry = new Registry();
    new PrometheusMetrics({ registry });
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const dashboard = readFileSync(new URL('../dashboards/dashboard.json', import.meta.url), 'utf8');
    const exprs = [...dashboard.matchAll(/"expr": "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
    expect(exprs.length).toBeGreaterThanOrEqual(9);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(mcp_[a-z_]+)/g)].map((m) => m[1]!)));
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      expect(exported, `${name} is queried by the dashboard`).toContain(base);
    }
    for (const name of exported) expect([...used].some((u) => u.startsWith(name)), `${name} has a panel`).toBe(true);
  });

  it('one broken source does not blank the scrape: it is skipped, counted, and the rest is served', async () => {
    const registry = new Registry();
    const metrics = new PrometheusMetrics({ registry });
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => 1 }] });
    metrics.attach(scheduler);
    metrics.addPool('undefined_stats', () => undefined as unknown as Record<string, number>);
    metrics.addPool('throws', () => {
      throw new Error('pool gone');
    });
    metrics.addPool('pg', () => ({ total: 3, idle: 1, cancels: 2, errors: 0 }));
    const brokenLimiter = { acquire: async () => ({ release() {} }), get available(): number { throw new Error('getter broke'); } };
    metrics.addLimiter('broken', brokenLimiter);
    await scheduler.run({ tool: 't', params: {} });
    const server = await startMetricsServer(registry, { port: 0 });
    try {
      const res = await fetch(server.url);
      expect(res.status).toBe(200);
      const first = parse(await res.text());
      expect(first.get('mcp_calls_total{status="ok",tool="t"}')).toBe(1);
      expect(first.get('mcp_pool_connections{pool="pg",state="idle"}')).toBe(1);
      expect(first.get('mcp_metrics_collect_errors_total{source="pool:undefined_stats"}')).toBe(1);
      expect(first.get('mcp_metrics_collect_errors_total{source="pool:throws"}')).toBe(1);
      expect(first.get('mcp_metrics_collect_errors_total{source="limiter:broken"}')).toBe(1);
      const second = parse(await (await fetch(server.url)).text());
      expect(second.get('mcp_metrics_collect_errors_total{source="pool:throws"}')).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('running totals are counters, gauges are gauges; cancellations are not rejections', async () => {
    const registry = new Registry();
    const metrics = new PrometheusMetrics({ registry });
    let stats = { total: 4, idle: 2, cancels: 3, errors: 1 };
    metrics.addPool('pg', () => stats);
    const scheduler = new Scheduler({ tools: [{ name: 'wait', run: (_p, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) }] });
    metrics.attach(scheduler);
    const controller = new AbortController();
    const pending = scheduler.run({ tool: 'wait', params: {} }, { signal: controller.signal });
    controller.abort();
    expect((await pending).status).toBe('cancelled');
    const first = parse(await registry.metrics());
    expect(first.get('mcp_pool_connections{pool="pg",state="total"}')).toBe(4);
    expect(first.get('mcp_pool_connections{pool="pg",state="cancels"}')).toBeUndefined();
    expect(first.get('mcp_pool_events_total{event="cancels",pool="pg"}')).toBe(3);
    expect(first.get('mcp_cancellations_total{tool="wait"}')).toBe(1);
    expect([...first.keys()].filter((k) => k.startsWith('mcp_rejections_total'))).toEqual([]);
    stats = { total: 4, idle: 4, cancels: 5, errors: 1 };
    expect(parse(await registry.metrics()).get('mcp_pool_events_total{event="cancels",pool="pg"}')).toBe(5);
    const types = await registry.getMetricsAsJSON();
    expect(types.find((m) => m.name === 'mcp_pool_events_total')?.type).toBe('counter');
  });

  it('offers prom-client\'s default process metrics, with the prefix', async () => {
    const registry = new Registry();
    new PrometheusMetrics({ registry, processMetrics: true });
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('mcp_process_cpu_seconds_total');
    expect(names).toContain('mcp_nodejs_eventloop_lag_seconds');
    const without = new Registry();
    new PrometheusMetrics({ registry: without });
    expect((await without.getMetricsAsJSON()).map((m) => m.name).some((n) => n.includes('process_cpu'))).toBe(false);
  });

  it('validates its options', () => {
    expect(() => new PrometheusMetrics({ registry: {} as Registry })).toThrow('Expected `registry` to be a prom-client Registry');
    expect(() => new PrometheusMetrics({ registry: new Registry(), prefix: '9x' })).toThrow('Expected `prefix`');
    expect(() => new PrometheusMetrics({ registry: new Registry(), buckets: [] })).toThrow('Expected `buckets`');
  });
});

describe('the /metrics server lifecycle', () => {
  /** A registry whose scrape waits until the test releases it. */
  function slowRegistry() {
    const registry = new Registry();
    const state = { started: 0, release: (): void => {} };
    new Gauge({
      name: 'slow_gauge',
      help: 'a gauge whose collect waits',
      registers: [registry],
      async collect() {
        state.started++;
        await new Promise<void>((resolve) => (state.release = resolve));
        this.set(1);
      },
    });
    return { registry, state };
  }

  it('close() refuses new connections and lets a scrape in flight finish', async () => {
    const { registry, state } = slowRegistry();
    const server = await startMetricsServer(registry, { port: 0 });
    const inFlight = fetch(server.url);
    await vi.waitFor(() => expect(state.started).toBe(1));
    const closing = server.close();
    expect(server.close()).toBe(closing);
    await expect(fetch(server.url)).rejects.toThrow();
    state.release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('slow_gauge 1');
    await closing;
    expect(server.server.listening).toBe(false);
  });

  it('destroy() (or the end of the grace) closes the connections in flight now', async () => {
    const { registry, state } = slowRegistry();
    const server = await startMetricsServer(registry, { port: 0 });
    const inFlight = fetch(server.url);
    await vi.waitFor(() => expect(state.started).toBe(1));
    const closing = server.close({ graceMs: 20 });
    await expect(inFlight).rejects.toThrow();
    await closing;
    expect(server.destroy()).toBe(closing);
    state.release();
  });
});
