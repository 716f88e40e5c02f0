import { context, defaultTextMapGetter, defaultTextMapSetter, propagation, type Context, type TextMapPropagator } from '@opentelemetry/api';

/**
 * What injects and extracts trace context: a `TextMapPropagator` (e.g. `W3CTraceContextPropagator`
 * from `@opentelemetry/core`) or the API's `propagation` (the globally registered propagator, which
 * the SDK's `register()` sets to W3C Trace Context and Baggage).
 */
export type Propagator = Pick<TextMapPropagator, 'inject' | 'extract'>;

export interface PropagationOptions {
  /** @default the API's global `propagation` */
  readonly propagator?: Propagator;
  /** The context to carry. @default the active context */
  readonly context?: Context;
}

/** The keys W3C Trace Context and Baggage write; the only ones taken from or put into `_meta`, headers and SQL. */
const KEYS = ['traceparent', 'tracestate', 'baggage'] as const;

/**
 * The W3C headers (`traceparent`, `tracestate`, `baggage`) for the active context, or `{}` when no
 * span is active. Source: W3C Trace Context, https://www.w3.org/TR/trace-context/.
 */
export function traceHeaders(options: PropagationOptions = {}): Record<string, string> {
  const carrier: Record<string, string> = {};
  (options.propagator ?? propagation).inject(options.context ?? context.active(), carrier, defaultTextMapSetter);
  return carrier;
}

/**
 * A hook for the `injectHeaders` option of pool-http's `HttpClient` (and `HttpPool`): it adds the W3C
 * headers of the context the request is made in (a call span, when the tool runs under `TracingObserver.wrap`).
 */
export function httpTraceHeaders(options: Omit<PropagationOptions, 'context'> = {}): (headers: Record<string, string>) => void {
  return (headers) => Object.assign(headers, traceHeaders(options));
}

/**
 * The MCP request's `params._meta` with trace context added, per the MCP semantic conventions
 * (docs/gen-ai/mcp.md, "Context propagation"; SEP-414): unprefixed `traceparent`, `tracestate`,
 * `baggage` keys. Returns a new object; `meta` is not changed. Returns `meta` itself when there is
 * nothing to carry.
 */
export function injectMeta<M extends Record<string, unknown>>(meta: M | undefined, options: PropagationOptions = {}): M | Record<string, unknown> | undefined {
  const headers = traceHeaders(options);
  if (headers.traceparent === undefined) return meta;
  return { ...meta, ...headers };
}

/**
 * The context carried in an MCP request's `params._meta` (the remote parent of a server span), on
 * top of `options.context` (default: the active one). Only the W3C keys are read, and only string values.
 */
export function extractMeta(meta: unknown, options: PropagationOptions = {}): Context {
  const base = options.context ?? context.active();
  if (typeof meta !== 'object' || meta === null) return base;
  const carrier: Record<string, string> = {};
  for (const key of KEYS) {
    const value = (meta as Record<string, unknown>)[key];
    if (typeof value === 'string' && value.length <= 8192) carrier[key] = value;
  }
  if (carrier.traceparent === undefined) return base;
  return (options.propagator ?? propagation).extract(base, carrier, defaultTextMapGetter);
}

/**
 * A SQL comment carrying the trace context, in the sqlcommenter format the field uses
 * (https://google.github.io/sqlcommenter/spec/): `/*traceparent='00-…-01',tracestate='…'*\/`, keys
 * sorted, values URL-encoded with `'` and `*` encoded too, so nothing in a (caller-controlled)
 * `tracestate` can end the comment. `''` when no span is active. For `PostgresPool`'s `sqlComment` option.
 */
export function sqlTraceComment(options: PropagationOptions = {}): string {
  const headers = traceHeaders(options);
  if (headers.traceparent === undefined) return '';
  const pairs = Object.keys(headers)
    .filter((key) => (KEYS as readonly string[]).includes(key))
    .sort()
    .map((key) => `${key}='${encodeSqlCommentValue(headers[key]!)}'`);
  return `/*${pairs.join(',')}*/`;
}

function encodeSqlCommentValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
