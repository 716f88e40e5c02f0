import type { Metric, MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';

/**
 * Counters and histograms that record into plain numbers and hand prom-client their totals only
 * when the registry is scraped (through the public `get()` contract every metric has).
 *
 * Why not prom-client's own: its `observe()`/`inc()` hash the label set on every call, even through
 * `labels()` children, which made the observer cost 44% of no-op scheduler throughput. Here a series
 * is looked up once (the caller keeps its handle) and recording is an array increment.
 */
abstract class LocalMetric<S> {
  readonly aggregator = 'sum' as const;
  readonly #series = new Map<string, { labels: Record<string, string>; series: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series for these label values; keep the handle, it is the fast path. */
  series(labels: Readonly<Record<string, string>>): S {
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, series: this.create() };
      this.#series.set(key, entry);
    }
    return entry.series;
  }

  reset(): void {
    for (const { series } of this.#series.values()) this.clear(series);
  }

  protected entries(): IterableIterator<{ labels: Record<string, string>; series: S }> {
    return this.#series.values();
  }

  protected abstract create(): S;
  protected abstract clear(series: S): void;
}

export class CounterSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class LocalCounter extends LocalMetric<CounterSeries> {
  readonly type = 'counter' as const;

  protected create(): CounterSeries {
    return new CounterSeries();
  }
  protected clear(series: CounterSeries): void {
    series.value = 0;
  }

  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values = [...this.entries()].map(({ labels, series }) => ({ labels, value: series.value, metricName: this.name }));
    return { name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, values, collect: noop };
  }
}

export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    // Most tool latencies land in the first buckets: a linear scan beats a binary search here.
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

export class LocalHistogram extends LocalMetric<HistogramSeries> {
  readonly type = 'histogram' as const;
  readonly #bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], bounds: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    this.#bounds = [...bounds].sort((a, b) => a - b);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.#bounds);
  }
  protected clear(series: HistogramSeries): void {
    series.counts.fill(0);
    series.sum = 0;
    series.count = 0;
  }

  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const { labels, series } of this.entries()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({ labels: { ...labels, le: bound }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: series.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, values, collect: noop };
  }
}

function noop(): void {}
