/**
 * Tracing (`tracingFromEnv`) and metrics (`metricsFromEnv`, below) from the standard OpenTelemetry
 * environment, for applications (the mcp-adapter CLI). Tracing:
 * the official SDK (`@opentelemetry/sdk-trace-node`), exporting OTLP over HTTP. Off unless
 * `OTEL_TRACES_EXPORTER` names an exporter, and then the SDK is loaded only at that point, so a
 * process without tracing loads none of it. The SDK packages are optional peer dependencies: install
 * them where you call this.
 *
 * Variables read (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
 * `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`; a comma-separated list),
 * `OTEL_EXPORTER_OTLP_PROTOCOL` / `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` (`http/protobuf`, the
 * default, or `http/json`), `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended to its path) /
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `OTEL_EXPORTER_OTLP_HEADERS` /
 * `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` and
 * `OTEL_TRACES_SAMPLER_ARG`. The batch processor reads `OTEL_BSP_*` itself.
 *
 * One deliberate difference from the specification: it names `otlp` the default exporter; here
 * nothing is exported unless `OTEL_TRACES_EXPORTER` is set, so tracing costs nothing by default.
 */
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { context, propagation, trace, type Meter, type Tracer } from '@opentelemetry/api';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { Sampler, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { TracingObserver, type TracingObserverOptions } from './observer.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface TracingFromEnvOptions {
  /** The environment to read. @default process.env */
  readonly env?: Env;
  /** `service.name` when `OTEL_SERVICE_NAME` is not set. @default 'mcp-concurrency' */
  readonly serviceName?: string;
  /** The instrumentation scope's name (the tracer's name). @default '@mcp-concurrency/tracing-opentelemetry' */
  readonly scope?: string;
}

/** A running SDK. `close()` exports what is buffered and unregisters; `destroy()` drops it. */
export interface Tracing {
  readonly tracer: Tracer;
  /** Where spans go, for logs: e.g. `otlp http/protobuf http://127.0.0.1:4318/v1/traces`. Headers, the URL's userinfo and its query values are never shown. */
  readonly description: string;
  /** A new observer on this tracer (one per scheduler, or shared). */
  observer(options?: Omit<TracingObserverOptions, 'tracer'>): TracingObserver;
  /** Exports what is buffered now. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered, shuts the exporters down and unregisters the globals. Idempotent. */
  close(): Promise<void>;
  /** Unregisters at once without waiting for the export. Idempotent. */
  destroy(): Promise<void>;
}

/** The exporters `variable` names, without `none`; none at all when `OTEL_SDK_DISABLED=true`. */
function exportersAsked(env: NodeJS.ProcessEnv, variable: 'OTEL_TRACES_EXPORTER' | 'OTEL_METRICS_EXPORTER'): string[] {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return [];
  return list(env[variable]).filter((n) => n !== 'none');
}

/**
 * Starts tracing as the environment says, or resolves `undefined` when it says nothing (or
 * `OTEL_TRACES_EXPORTER=none`, or `OTEL_SDK_DISABLED=true`). Registers the SDK's context manager
 * (AsyncLocalStorage), the W3C propagators and the tracer provider as the API's globals: tool runs
 * need them to carry their span. Rejects with code `config_error` naming the variable on a value
 * it does not know.
 */
export async function tracingFromEnv(options: TracingFromEnvOptions = {}): Promise<Tracing | undefined> {
  const env = options.env ?? process.env;
  const names = exportersAsked(env, 'OTEL_TRACES_EXPORTER');
  if (names.length === 0) return undefined;
  const [{ NodeTracerProvider }, base, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  const descriptions: string[] = [];
  const processors = [];
  for (const name of names) {
    const { exporter, description } = await makeExporter(name, env, base);
    descriptions.push(description);
    processors.push(name === 'console' ? new base.SimpleSpanProcessor(exporter) : new base.BatchSpanProcessor(exporter));
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME']?.trim() || (options.serviceName ?? 'mcp-concurrency') }),
    sampler: sampler(env, base),
    spanProcessors: processors,
  });
  provider.register();
  const tracer = provider.getTracer(options.scope ?? '@mcp-concurrency/tracing-opentelemetry');
  let stopped: Promise<void> | undefined;
  const stop = (flush: boolean): Promise<void> =>
    (stopped ??= (async () => {
      try {
        if (flush) await provider.shutdown();
        else void provider.shutdown().catch(() => {});
      } finally {
        // The API's globals go with the provider; the next registration starts clean.
        trace.disable();
        context.disable();
        propagation.disable();
      }
    })());
  return {
    tracer,
    description: descriptions.join(', '),
    observer: (observerOptions = {}) => new TracingObserver({ ...observerOptions, tracer }),
    forceFlush: () => provider.forceFlush(),
    close: () => stop(true),
    destroy: () => stop(false),
  };
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

function configError(variable: string, expected: string, value: string | undefined): McpConcurrencyError {
  return new McpConcurrencyError('config_error', `Expected \`${variable}\` to be ${expected}, got \`${value}\``);
}

type SdkBase = typeof import('@opentelemetry/sdk-trace-base');

async function makeExporter(name: string, env: Env, base: SdkBase): Promise<{ exporter: SpanExporter; description: string }> {
  if (name === 'console') return { exporter: new base.ConsoleSpanExporter(), description: 'console' };
  if (name !== 'otlp') throw configError('OTEL_TRACES_EXPORTER', '`otlp`, `console` or `none`', env['OTEL_TRACES_EXPORTER']);
  const { protocol, url, shown, headers } = otlpSettings(env, TRACES);
  const config = { url, headers };
  let exporter: SpanExporter;
  if (protocol === 'http/protobuf') exporter = new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(config);
  else exporter = new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(config);
  return { exporter, description: `otlp ${protocol} ${shown}` };
}

/** One OTLP signal's variables: `OTEL_EXPORTER_OTLP_{SIGNAL}_*` over `OTEL_EXPORTER_OTLP_*`, and its URL path. */
interface Signal {
  readonly variable: 'TRACES' | 'METRICS';
  readonly path: '/v1/traces' | '/v1/metrics';
}
const TRACES: Signal = { variable: 'TRACES', path: '/v1/traces' };
const METRICS: Signal = { variable: 'METRICS', path: '/v1/metrics' };

/** Protocol, URL and headers of a signal's OTLP/HTTP exporter; `config_error` naming the variable on a value it does not know. */
function otlpSettings(env: Env, signal: Signal): { protocol: 'http/protobuf' | 'http/json'; url: string; shown: string; headers: Record<string, string> } {
  const specific = `OTEL_EXPORTER_OTLP_${signal.variable}_PROTOCOL`;
  const protocolVariable = env[specific] !== undefined ? specific : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = env[protocolVariable]?.trim() || 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw configError(protocolVariable, '`http/protobuf` or `http/json` (grpc is not supported here)', protocol);
  }
  return { protocol, ...otlpUrl(env, signal), headers: otlpHeaders(env, signal) };
}

/**
 * The signal's URL, and how to show it. `OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT` is used as is; the base
 * `OTEL_EXPORTER_OTLP_ENDPOINT` gets the signal's path appended to its path (without a doubled `/`),
 * its query kept a query (the OTLP exporter specification, "Endpoint URLs for OTLP/HTTP":
 * https://opentelemetry.io/docs/specs/otel/protocol/exporter/). An endpoint may carry credentials
 * (`user:password@`, `?api_key=`): `config_error` names the variable without its value, and `shown` is
 * the URL without userinfo, with each query value as `[redacted]` (see `redactedUrl`).
 */
function otlpUrl(env: Env, signal: Signal): { url: string; shown: string } {
  const specificVariable = `OTEL_EXPORTER_OTLP_${signal.variable}_ENDPOINT`;
  const specific = env[specificVariable]?.trim();
  const variable = specific ? specificVariable : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const raw = specific || env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() || 'http://localhost:4318';
  // The value is never quoted: it may hold a password or an API key.
  const notUrl = () =>
    new McpConcurrencyError('config_error', `Expected \`${variable}\` to be an http(s) URL such as http://localhost:4318 (the value is not shown: it may hold credentials)`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw notUrl();
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw notUrl();
  if (!specific) url.pathname = `${url.pathname.replace(/\/$/, '')}${signal.path}`;
  return { url: url.href, shown: redactedUrl(url) };
}

/**
 * `url` for logs: scheme, host, port and path; no userinfo; a query as its names with each value
 * `[redacted]` (a part without `=` is `[redacted]` whole); no fragment.
 * E.g. `http://user:pw@127.0.0.1:4318/v1/traces?api_key=k` gives `http://127.0.0.1:4318/v1/traces?api_key=[redacted]`.
 */
function redactedUrl(url: URL): string {
  const query = url.search
    .slice(1)
    .split('&')
    .filter((part) => part !== '')
    .map((part) => (part.includes('=') ? `${part.slice(0, part.indexOf('='))}=[redacted]` : '[redacted]'));
  return `${url.protocol}//${url.host}${url.pathname}${query.length > 0 ? `?${query.join('&')}` : ''}`;
}

/** `key=value,key2=value2`, values URL-encoded (the OTLP exporter specification's format). */
function otlpHeaders(env: Env, signal: Signal): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const variable of ['OTEL_EXPORTER_OTLP_HEADERS', `OTEL_EXPORTER_OTLP_${signal.variable}_HEADERS`]) {
    for (const pair of (env[variable] ?? '').split(',')) {
      if (pair.trim() === '') continue;
      const eq = pair.indexOf('=');
      // The value may be a secret (an API key): the message names the variable, never the value.
      if (eq <= 0) throw new McpConcurrencyError('config_error', `Expected \`${variable}\` to be key=value pairs separated by commas`);
      try {
        headers[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
      } catch {
        throw new McpConcurrencyError('config_error', `Expected \`${variable}\` to be URL-encoded key=value pairs`);
      }
    }
  }
  return headers;
}

function sampler(env: Env, base: SdkBase): Sampler {
  const name = env['OTEL_TRACES_SAMPLER']?.trim().toLowerCase() || 'parentbased_always_on';
  const arg = env['OTEL_TRACES_SAMPLER_ARG']?.trim();
  const ratio = (): Sampler => {
    const value = arg === undefined || arg === '' ? 1 : Number(arg);
    if (!(value >= 0 && value <= 1)) throw configError('OTEL_TRACES_SAMPLER_ARG', 'a ratio in [0, 1]', arg);
    return new base.TraceIdRatioBasedSampler(value);
  };
  switch (name) {
    case 'always_on':
      return new base.AlwaysOnSampler();
    case 'always_off':
      return new base.AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new base.ParentBasedSampler({ root: new base.AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new base.ParentBasedSampler({ root: new base.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new base.ParentBasedSampler({ root: ratio() });
    default:
      throw configError(
        'OTEL_TRACES_SAMPLER',
        'one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio',
        env['OTEL_TRACES_SAMPLER'],
      );
  }
}

/** A running metrics SDK. `close()` exports what is recorded and shuts the exporter down; `destroy()` drops it. */
export interface Metrics {
  /** The meter to record with (e.g. `McpTracing`'s `meter`). Not registered as the API's global. */
  readonly meter: Meter;
  /** Where metrics go, for logs: e.g. `otlp http/protobuf http://127.0.0.1:4318/v1/metrics every 60000 ms`. Headers, the URL's userinfo and its query values are never shown. */
  readonly description: string;
  /** Exports what is recorded now. */
  forceFlush(): Promise<void>;
  /** Exports what is recorded and shuts the exporters down. Idempotent. */
  close(): Promise<void>;
  /** Shuts down without waiting for the export. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * Starts metrics as the environment says (the official `@opentelemetry/sdk-metrics`, a periodic
 * reader exporting OTLP over HTTP), or resolves `undefined` unless `OTEL_METRICS_EXPORTER` names
 * `otlp` or `console` (or with `OTEL_SDK_DISABLED=true`). Reads `OTEL_METRICS_EXPORTER`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL` / `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (`/v1/metrics` appended to its path) / `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_HEADERS` /
 * `OTEL_EXPORTER_OTLP_METRICS_HEADERS`, `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60000),
 * `OTEL_METRIC_EXPORT_TIMEOUT` (ms, default 30000) and `OTEL_SERVICE_NAME`. Rejects with code
 * `config_error` naming the variable on a value it does not know.
 *
 * Like traces, off by default (the specification's default is `otlp`): metrics cost nothing unless asked.
 */
export async function metricsFromEnv(options: TracingFromEnvOptions = {}): Promise<Metrics | undefined> {
  const env = options.env ?? process.env;
  const names = exportersAsked(env, 'OTEL_METRICS_EXPORTER');
  if (names.length === 0) return undefined;
  for (const name of names) {
    if (name !== 'otlp' && name !== 'console') throw configError('OTEL_METRICS_EXPORTER', '`otlp`, `console` or `none`', env['OTEL_METRICS_EXPORTER']);
  }
  const exportIntervalMillis = milliseconds(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000);
  const exportTimeoutMillis = Math.min(milliseconds(env, 'OTEL_METRIC_EXPORT_TIMEOUT', 30_000), exportIntervalMillis);
  const [sdk, { resourceFromAttributes }] = await Promise.all([import('@opentelemetry/sdk-metrics'), import('@opentelemetry/resources')]);
  const descriptions: string[] = [];
  const readers = [];
  for (const name of names) {
    let exporter: PushMetricExporter;
    if (name === 'console') {
      exporter = new sdk.ConsoleMetricExporter();
      descriptions.push(`console every ${exportIntervalMillis} ms`);
    } else {
      const { protocol, url, shown, headers } = otlpSettings(env, METRICS);
      const config = { url, headers };
      exporter =
        protocol === 'http/protobuf'
          ? new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(config)
          : new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter(config);
      descriptions.push(`otlp ${protocol} ${shown} every ${exportIntervalMillis} ms`);
    }
    readers.push(new sdk.PeriodicExportingMetricReader({ exporter, exportIntervalMillis, exportTimeoutMillis }));
  }
  const provider = new sdk.MeterProvider({
    resource: resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME']?.trim() || (options.serviceName ?? 'mcp-concurrency') }),
    readers,
  });
  const meter = provider.getMeter(options.scope ?? '@mcp-concurrency/tracing-opentelemetry');
  let stopped: Promise<void> | undefined;
  const stop = (flush: boolean): Promise<void> =>
    (stopped ??= flush ? provider.shutdown() : Promise.resolve(void provider.shutdown().catch(() => {})));
  return {
    meter,
    description: descriptions.join(', '),
    forceFlush: () => provider.forceFlush(),
    close: () => stop(true),
    destroy: () => stop(false),
  };
}

/** A positive integer of ms from `variable`, or `fallback` when it is unset or empty. */
function milliseconds(env: Env, variable: string, fallback: number): number {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw configError(variable, 'a positive integer of milliseconds', raw);
  return value;
}
