import { invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Histogram, type Meter, type Span, type Tracer } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_JSONRPC_REQUEST_ID,
  ATTR_MCP_METHOD_NAME,
  ATTR_MCP_PROTOCOL_VERSION,
  ATTR_MCP_SESSION_ID,
  ATTR_NETWORK_TRANSPORT,
  ATTR_RPC_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  EXECUTE_TOOL,
  TOOL_ERROR,
} from './attributes.js';
import { extractMeta, injectMeta, type Propagator } from './propagation.js';

/** What an MCP span says about one request (MCP semantic conventions, docs/gen-ai/mcp.md). */
export interface McpRequestInfo {
  /** `mcp.method.name`. @example 'tools/call' */
  readonly method: string;
  /** The tool's name for `tools/call` (`gen_ai.tool.name`, and the span name's target). */
  readonly tool?: string;
  /** `jsonrpc.request.id`, when the request has one. */
  readonly requestId?: string | number;
  /** `mcp.session.id`, when there is a session. */
  readonly sessionId?: string;
  /** `mcp.protocol.version`. @example '2025-11-25' */
  readonly protocolVersion?: string;
  /** `network.transport`: `pipe` for stdio, `tcp` for Streamable HTTP. */
  readonly transport?: 'pipe' | 'tcp';
  /** `server.address` / `server.port` (client side). */
  readonly serverAddress?: string;
  readonly serverPort?: number;
}

export interface McpTracingOptions {
  /** @example provider.getTracer('@mcp-concurrency/tracing-opentelemetry') */
  readonly tracer: Tracer;
  /** @default the API's global `propagation` */
  readonly propagator?: Propagator;
  /**
   * Records the conventions' `mcp.server.operation.duration` and `mcp.client.operation.duration`
   * histograms (seconds; attributes `mcp.method.name`, `gen_ai.tool.name`, `gen_ai.operation.name`,
   * `mcp.protocol.version`, `network.transport`, `error.type`, `rpc.response.status_code`: never ids).
   * @default no metrics
   */
  readonly meter?: Meter;
  /** Where durations are read, in ms. @default performance.now */
  readonly clock?: { now(): number };
}

/** Bucket boundaries the MCP conventions advise for the operation durations, in seconds. */
const DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
/** Span attributes that are also metric attributes (low cardinality). */
const METRIC_KEYS = [
  ATTR_MCP_METHOD_NAME,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_MCP_PROTOCOL_VERSION,
  ATTR_NETWORK_TRANSPORT,
  ATTR_ERROR_TYPE,
  ATTR_RPC_RESPONSE_STATUS_CODE,
];

/**
 * MCP client and server spans per the MCP semantic conventions: span name
 * `{mcp.method.name} {tool}`, kind CLIENT or SERVER, `mcp.*`, `jsonrpc.request.id`,
 * `gen_ai.operation.name = execute_tool` and `gen_ai.tool.name` for `tools/call`, `error.type`
 * `tool_error` for a `CallToolResult` with `isError: true`, or the JSON-RPC error code when the
 * request fails. Trace context travels in the request's `params._meta` (`traceparent`, `tracestate`).
 *
 * @example
 * // Server: the client's span (from _meta) is the parent of everything the call does.
 * const result = await mcpTracing.server({ method: 'tools/call', tool: name, requestId }, meta, () => runtime.call(name, args));
 * // Client: _meta to send, carrying this call's span.
 * const result = await mcpTracing.client({ method: 'tools/call', tool: name }, request._meta, (meta) => client.callTool({ name, arguments: args, _meta: meta }));
 */
export class McpTracing {
  readonly #tracer: Tracer;
  readonly #propagator: Propagator | undefined;
  readonly #clock: { now(): number };
  readonly #durations: { readonly server: Histogram; readonly client: Histogram } | undefined;

  constructor(options: McpTracingOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    if (typeof (options.tracer as Partial<Tracer> | undefined)?.startSpan !== 'function') {
      throw invalidArgument('tracer', 'an OpenTelemetry Tracer', options.tracer);
    }
    this.#tracer = options.tracer;
    this.#propagator = options.propagator;
    this.#clock = options.clock ?? performance;
    const meter = options.meter as Partial<Meter> | undefined;
    if (meter !== undefined && typeof meter?.createHistogram !== 'function') throw invalidArgument('meter', 'an OpenTelemetry Meter', options.meter);
    if (options.clock !== undefined && typeof options.clock?.now !== 'function') throw invalidArgument('clock', 'an object with now()', options.clock);
    this.#durations =
      options.meter === undefined
        ? undefined
        : {
            server: histogram(options.meter, 'mcp.server.operation.duration', 'MCP request or notification duration as observed on the receiver.'),
            client: histogram(options.meter, 'mcp.client.operation.duration', 'MCP request or notification duration as observed on the sender.'),
          };
  }

  /**
   * Runs `handle` inside a SERVER span whose parent is the context in the request's `_meta` (or the
   * active context when `_meta` carries none). Resolves or rejects as `handle` does.
   */
  server<T>(info: McpRequestInfo, meta: unknown, handle: () => T | Promise<T>): Promise<T> {
    const parent = extractMeta(meta, { propagator: this.#propagator });
    return this.#run(SpanKind.SERVER, info, parent, () => handle());
  }

  /**
   * Runs `send` inside a CLIENT span (child of the active context), handing it the request's
   * `_meta` with that span's context added (`meta` itself is not changed).
   */
  client<T>(info: McpRequestInfo, meta: Record<string, unknown> | undefined, send: (meta: Record<string, unknown> | undefined) => T | Promise<T>): Promise<T> {
    return this.#run(SpanKind.CLIENT, info, context.active(), () => send(injectMeta(meta, { propagator: this.#propagator })));
  }

  async #run<T>(kind: SpanKind, info: McpRequestInfo, parent: ReturnType<typeof context.active>, fn: () => T | Promise<T>): Promise<T> {
    const attributes = attributesOf(info);
    const span = this.#tracer.startSpan(info.tool === undefined ? info.method : `${info.method} ${info.tool}`, { kind, attributes }, parent);
    const started = this.#durations === undefined ? 0 : this.#clock.now();
    try {
      const result = await context.with(trace.setSpan(parent, span), fn);
      const isError = (result as { isError?: unknown } | null | undefined)?.isError === true;
      if (isError) {
        attributes[ATTR_ERROR_TYPE] = TOOL_ERROR;
        // The result's text is the tool's output: recorded only by TracingObserver's opt-in, not here.
        span.setAttribute(ATTR_ERROR_TYPE, TOOL_ERROR);
        span.setStatus({ code: SpanStatusCode.ERROR, message: TOOL_ERROR });
      }
      return result;
    } catch (error) {
      recordFailure(span, attributes, error);
      throw error;
    } finally {
      span.end();
      if (this.#durations !== undefined) {
        const seconds = (this.#clock.now() - started) / 1000;
        const metricAttributes: Attributes = {};
        for (const key of METRIC_KEYS) if (attributes[key] !== undefined) metricAttributes[key] = attributes[key];
        (kind === SpanKind.SERVER ? this.#durations.server : this.#durations.client).record(seconds, metricAttributes);
      }
    }
  }
}

function attributesOf(info: McpRequestInfo): Attributes {
  const attributes: Attributes = { [ATTR_MCP_METHOD_NAME]: info.method };
  if (info.tool !== undefined) {
    attributes[ATTR_GEN_AI_TOOL_NAME] = info.tool;
    if (info.method === 'tools/call') attributes[ATTR_GEN_AI_OPERATION_NAME] = EXECUTE_TOOL;
  }
  if (info.requestId !== undefined && info.requestId !== null) attributes[ATTR_JSONRPC_REQUEST_ID] = String(info.requestId);
  if (info.sessionId !== undefined) attributes[ATTR_MCP_SESSION_ID] = info.sessionId;
  if (info.protocolVersion !== undefined) attributes[ATTR_MCP_PROTOCOL_VERSION] = info.protocolVersion;
  if (info.transport !== undefined) attributes[ATTR_NETWORK_TRANSPORT] = info.transport;
  if (info.serverAddress !== undefined) attributes[ATTR_SERVER_ADDRESS] = info.serverAddress;
  if (info.serverPort !== undefined) attributes[ATTR_SERVER_PORT] = info.serverPort;
  return attributes;
}

/** A JSON-RPC error's numeric code becomes `error.type` and `rpc.response.status_code`; anything else its `code` or name. */
function recordFailure(span: Span, attributes: Attributes, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  let type: string;
  if (typeof code === 'number' && Number.isInteger(code)) {
    type = String(code);
    attributes[ATTR_RPC_RESPONSE_STATUS_CODE] = type;
    span.setAttribute(ATTR_RPC_RESPONSE_STATUS_CODE, type);
  } else if (typeof code === 'string' && code !== '') type = code;
  else type = error instanceof Error ? error.name : '_OTHER';
  attributes[ATTR_ERROR_TYPE] = type;
  span.setAttribute(ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

function histogram(meter: Meter, name: string, description: string): Histogram {
  return meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: DURATION_BUCKETS } });
}
