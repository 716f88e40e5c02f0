import type { Limiter, Scheduler, SchedulerObserver, ToolCall, ToolErrorInfo, ToolResult } from '@mcp-concurrency/core-scheduler';
import { checkNonEmptyString, invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client';
import { HistogramSeries, LocalCounter, LocalHistogram, type CounterSeries } from './local-metrics.js';

/** Seconds, from a millisecond to ten minutes: what tool calls take. */
export const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export interface PrometheusMetricsOptions {
  /** The registry to record into; yours, never prom-client's global one unless you pass it. */
  readonly registry: Registry;
  /** Prepended to every metric name. @default 'mcp_' */
  readonly prefix?: string;
  /** Histogram buckets in seconds. @default DEFAULT_BUCKETS (1 ms .. 10 min) */
  readonly buckets?: readonly number[];
  /** Tool names allowed as label values; others are recorded as `other`. @default the attached schedulers' tools */
  readonly tools?: readonly string[];
  /** Constant labels on every metric of the registry (it sets the registry's default labels). @example { service: 'search-mcp', instance: 'a1' } */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Also record prom-client's default process metrics (CPU, memory, event-loop lag, handles, GC) into
   * the registry, with the same prefix (`mcp_process_cpu_seconds_total`...).
   * @default false
   */
  readonly processMetrics?: boolean;
}

export interface AddPoolOptions {
  /**
   * Fields of the stats that are running totals (they only grow): exported as the counter
   * `mcp_pool_events_total{pool, event}`, not as a gauge. A total that goes down (a new pool) starts again.
   * @default ['cancels', 'errors'] (what `PostgresPool.stats()` counts)
   */
  readonly counters?: readonly string[];
}

interface ToolChildren {
  readonly tool: string;
  readonly queueWait: HistogramSeries;
  readonly byStatus: Map<string, { calls: CounterSeries; duration: HistogramSeries }>;
}

/** What a pool reports at scrape time: any named counts (total, idle, waiting, connected, free, pending, queued...). */
export type PoolStats = () => Readonly<Record<string, number>>;

/** Refusals and limits that cut a call short. A client's own cancellation is not one: it has its own counter. */
const REJECTION_REASONS = new Set(['queue_full', 'rate_limited', 'timeout', 'queue_timeout', 'closed', 'limiter_unavailable']);
const DEFAULT_POOL_COUNTERS: readonly string[] = ['cancels', 'errors'];

/**
 * Records what schedulers, limiters and pools do into a prom-client `Registry` you own.
 * Label values come only from registered tool and limiter names (anything else is `other`), never
 * from call ids or URLs, so cardinality stays bounded. Gauges are read at scrape time.
 *
 * @example
 * const registry = new Registry();
 * const metrics = new PrometheusMetrics({ registry });
 * metrics.attach(scheduler);
 * http.createServer(metricsHandler(registry)).listen(9464, '127.0.0.1');
 */
export class PrometheusMetrics {
  /** Attach this to a scheduler yourself, or call `attach()`. */
  readonly observer: SchedulerObserver;
  readonly #allowedTools: Set<string>;
  readonly #explicitTools: boolean;
  readonly #limiterNames = new Set<string>();
  readonly #schedulers = new Set<Scheduler>();
  readonly #limiters = new Map<string, Limiter>();
  readonly #pools = new Map<string, { readonly read: PoolStats; readonly counters: ReadonlySet<string> }>();
  readonly #totalsSeen = new Map<string, number>();
  /** Labelled children per tool (and status): prom-client then skips hashing labels on every call. */
  readonly #children = new Map<string, ToolChildren>();

  // Recorded on every call: plain-number series, handed to prom-client at scrape time.
  readonly #duration: LocalHistogram;
  readonly #errors: LocalCounter;
  readonly #queueWait: LocalHistogram;
  readonly #rejections: LocalCounter;
  readonly #limiterWait: LocalHistogram;
  readonly #limiterWaitSeries = new Map<string, HistogramSeries>();
  readonly #retries: LocalCounter;
  readonly #skips: LocalCounter;
  readonly #calls: LocalCounter;
  readonly #cancellations: LocalCounter;
  readonly #collectErrors: Counter<'source'>;

  constructor(options: PrometheusMetricsOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    const registry = options.registry;
    if (typeof registry?.registerMetric !== 'function') throw invalidArgument('registry', 'a prom-client Registry', registry);
    const p = options.prefix ?? 'mcp_';
    if (p !== '' && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(p)) throw invalidArgument('prefix', 'a Prometheus metric name prefix', p);
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
    if (buckets.length === 0 || buckets.some((b) => typeof b !== 'number' || !(b > 0))) {
      throw invalidArgument('buckets', 'a non-empty array of numbers > 0', options.buckets);
    }
    this.#explicitTools = options.tools !== undefined;
    this.#allowedTools = new Set(options.tools ?? []);
    const registers = [registry];
    if (options.labels !== undefined) {
      if (typeof options.labels !== 'object' || options.labels === null) throw invalidArgument('labels', 'an object of label values', options.labels);
      registry.setDefaultLabels({ ...options.labels });
    }

    // One broken source (a stats function that throws or returns nonsense, a getter that throws) must
    // not blank the whole scrape: it is skipped and counted in #collectErrors, and the rest is served.
    const guarded = (source: string, read: () => void): void => {
      try {
        read();
      } catch {
        this.#collectErrors.inc({ source });
      }
    };

    // Gauges read the schedulers' own counts at scrape time: exact, and nothing polls.
    const perTool = (gauge: Gauge<'tool'>, field: 'running' | 'queued'): void => {
      gauge.reset();
      for (const scheduler of this.#schedulers) {
        guarded('scheduler', () => {
          for (const [tool, stats] of Object.entries(scheduler.toolStats())) gauge.inc({ tool: this.#tool(tool) }, stats[field]);
        });
      }
    };
    const concurrent: Gauge<'tool'> = new Gauge({
      name: `${p}concurrent_operations`,
      help: 'Tool calls running now, by tool',
      labelNames: ['tool'],
      registers,
      collect: () => perTool(concurrent, 'running'),
    });
    const queued: Gauge<'tool'> = new Gauge({
      name: `${p}queued_calls`,
      help: 'Tool calls waiting for a slot or a limiter, by tool',
      labelNames: ['tool'],
      registers,
      collect: () => perTool(queued, 'queued'),
    });
    this.#duration = new LocalHistogram(`${p}operation_duration_seconds`, 'Tool call run time (first start to result), by tool and status', ['tool', 'status'], buckets, registry);
    this.#errors = new LocalCounter(`${p}operation_errors_total`, 'Tool calls that did not end ok, by tool and error code', ['tool', 'code'], registry);
    this.#calls = new LocalCounter(`${p}calls_total`, 'Tool calls settled, by tool and status', ['tool', 'status'], registry);
    this.#queueWait = new LocalHistogram(`${p}queue_wait_seconds`, 'Time from submission to start, by tool', ['tool'], buckets, registry);
    this.#rejections = new LocalCounter(`${p}rejections_total`, 'Calls refused or cut short by a limit, by tool and reason', ['tool', 'reason'], registry);
    this.#cancellations = new LocalCounter(`${p}cancellations_total`, 'Calls cancelled by their caller (an aborted signal, an MCP cancellation), by tool', ['tool'], registry);
    this.#limiterWait = new LocalHistogram(`${p}limiter_wait_seconds`, 'Time spent waiting for a named limiter', ['limiter'], buckets, registry);
    this.#retries = new LocalCounter(`${p}retries_total`, 'Retries scheduled, by tool', ['tool'], registry);
    this.#skips = new LocalCounter(`${p}dependency_skips_total`, 'Calls skipped because a dependency failed, by tool', ['tool'], registry);
    // Read from the limiters' own error counts at scrape time.
    const redisErrors: Counter<'limiter'> = new Counter({
      name: `${p}limiter_redis_errors_total`,
      help: 'Redis failures seen by a distributed limiter',
      labelNames: ['limiter'],
      registers,
      collect: () => {
        for (const [name, limiter] of this.#limiters) {
          guarded(`limiter:${name}`, () => {
            const errors = (limiter as { stats?: { errors?: unknown } }).stats?.errors;
            if (typeof errors === 'number') this.#addTotal(redisErrors, { limiter: name }, `redis:${name}`, errors);
          });
        }
      },
    });
    const tokens: Gauge<'limiter'> = new Gauge({
      name: `${p}limiter_tokens_available`,
      help: 'Tokens in an in-process bucket now',
      labelNames: ['limiter'],
      registers,
      collect: () => {
        tokens.reset();
        for (const [name, limiter] of this.#limiters) {
          guarded(`limiter:${name}`, () => {
            const available = (limiter as { available?: unknown }).available;
            if (typeof available === 'number' && Number.isFinite(available)) tokens.set({ limiter: name }, available);
          });
        }
      },
    });
    const pools: Gauge<'pool' | 'state'> = new Gauge({
      name: `${p}pool_connections`,
      help: 'Connection pool counts by pool and state (Postgres: total/idle/waiting/running; undici: connected/free/pending/queued/running)',
      labelNames: ['pool', 'state'],
      registers,
      collect: () => {
        pools.reset();
        for (const [pool, { read, counters }] of this.#pools) {
          guarded(`pool:${pool}`, () => {
            const stats: unknown = read();
            if (typeof stats !== 'object' || stats === null) throw new TypeError(`pool ${pool} stats returned ${String(stats)}`);
            for (const [field, value] of Object.entries(stats)) {
              if (typeof value !== 'number' || !Number.isFinite(value)) continue;
              if (counters.has(field)) this.#addTotal(poolEvents, { pool, event: field }, `pool:${pool}:${field}`, value);
              else pools.set({ pool, state: field }, value);
            }
          });
        }
      },
    });
    // Registered after the gauge whose collect() fills it: a registry renders metrics in registration order.
    const poolEvents: Counter<'pool' | 'event'> = new Counter({
      name: `${p}pool_events_total`,
      help: 'Running totals a pool reports (Postgres: cancels, errors), by pool and event',
      labelNames: ['pool', 'event'],
      registers,
    });
    // Last of all, for the same reason: every collector above may count into it during this scrape.
    this.#collectErrors = new Counter({
      name: `${p}metrics_collect_errors_total`,
      help: 'Scrapes in which a source (pool:<name>, limiter:<name>, scheduler) could not be read and was skipped',
      labelNames: ['source'],
      registers,
    });
    if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: p });

    this.observer = {
      onStart: (call: ToolCall, waitedMs: number, attempt: number) => {
        if (attempt === 1) this.#childrenOf(call.tool).queueWait.observe(waitedMs / 1000);
      },
      onSettled: (result: ToolResult) => this.#settled(result),
      onLimiterWait: (limiter: string, waitedMs: number) => {
        let series = this.#limiterWaitSeries.get(limiter);
        if (series === undefined) {
          series = this.#limiterWait.series({ limiter: this.#limiterNames.has(limiter) ? limiter : 'other' });
          if (this.#limiterNames.has(limiter)) this.#limiterWaitSeries.set(limiter, series);
        }
        series.observe(waitedMs / 1000);
      },
      onRetry: (call: ToolCall, _attempt: number, _delayMs: number, _error: ToolErrorInfo) =>
        this.#retries.series({ tool: this.#tool(call.tool) }).inc(),
    };
  }

  /** Observes a scheduler: its hooks, its tools and limiters as label values, its counts at scrape time. Returns a detach function. */
  attach(scheduler: Scheduler): () => void {
    this.#schedulers.add(scheduler);
    if (!this.#explicitTools) for (const name of scheduler.toolNames) this.#allowedTools.add(name);
    for (const [name, limiter] of scheduler.limiters) this.addLimiter(name, limiter);
    const detach = scheduler.addObserver(this.observer);
    return () => {
      detach();
      this.#schedulers.delete(scheduler);
    };
  }

  /**
   * A tool registered after `attach()` (a proxy learns its upstream's tools later), labelled by its own
   * name from now on instead of `other`. Does nothing when the constructor was given an explicit `tools`
   * list. Call it only for names you control (registered tools), never for names a caller sent: each one
   * is a label value, and label values must stay bounded.
   */
  addTool(name: string): void {
    checkNonEmptyString('tool name', name);
    if (this.#explicitTools || this.#allowedTools.has(name)) return;
    this.#allowedTools.add(name);
    this.#children.delete(name); // seen before as `other`: its next call finds its own series
  }

  /** A named limiter whose tokens (and Redis errors) are read at scrape time. */
  addLimiter(name: string, limiter: Limiter): void {
    checkNonEmptyString('limiter name', name);
    this.#limiterNames.add(name);
    this.#limiters.set(name, limiter);
  }

  /**
   * A pool whose counts are read at scrape time, e.g. `() => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount })`:
   * gauges in `mcp_pool_connections{pool, state}`, running totals (`options.counters`) in `mcp_pool_events_total{pool, event}`.
   * A stats function that throws or returns no object is skipped at that scrape and counted in `mcp_metrics_collect_errors_total`.
   */
  addPool(name: string, stats: PoolStats, options: AddPoolOptions = {}): void {
    checkNonEmptyString('pool name', name);
    if (typeof stats !== 'function') throw invalidArgument('stats', 'a function returning counts', stats);
    const counters = options.counters ?? DEFAULT_POOL_COUNTERS;
    if (!Array.isArray(counters) || counters.some((c) => typeof c !== 'string')) throw invalidArgument('counters', 'an array of field names', counters);
    this.#pools.set(name, { read: stats, counters: new Set(counters) });
  }

  /** Adds what a running total grew by since the last scrape; a total that went down (a new pool, a restart) counts from 0. */
  #addTotal<L extends string>(counter: Counter<L>, labels: Partial<Record<L, string>>, key: string, total: number): void {
    const seen = this.#totalsSeen.get(key) ?? 0;
    const grew = total >= seen ? total - seen : total;
    if (grew > 0) counter.inc(labels, grew);
    this.#totalsSeen.set(key, total);
  }

  #tool(name: string): string {
    return this.#allowedTools.has(name) ? name : 'other';
  }

  #childrenOf(name: string): ToolChildren {
    let children = this.#children.get(name);
    if (children === undefined) {
      const tool = this.#tool(name);
      children = { tool, queueWait: this.#queueWait.series({ tool }), byStatus: new Map() };
      // Bounded: unknown names share the 'other' children and are not cached one by one.
      if (tool !== 'other' || this.#children.size < 1_000) this.#children.set(name, children);
    }
    return children;
  }

  #settled(result: ToolResult): void {
    const children = this.#childrenOf(result.tool);
    const tool = children.tool;
    let byStatus = children.byStatus.get(result.status);
    if (byStatus === undefined) {
      byStatus = { calls: this.#calls.series({ tool, status: result.status }), duration: this.#duration.series({ tool, status: result.status }) };
      children.byStatus.set(result.status, byStatus);
    }
    byStatus.calls.inc();
    if (result.attempts > 0) byStatus.duration.observe(result.runMs / 1000);
    if (result.status === 'ok') return;
    const code = result.error?.code ?? 'unknown';
    this.#errors.series({ tool, code }).inc();
    if (result.status === 'skipped') this.#skips.series({ tool }).inc();
    if (code === 'cancelled') this.#cancellations.series({ tool }).inc();
    else if (REJECTION_REASONS.has(code)) this.#rejections.series({ tool, reason: code === 'queue_timeout' ? 'timeout' : code }).inc();
  }
}
