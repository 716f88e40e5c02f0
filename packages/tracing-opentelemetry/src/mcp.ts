import { invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Histogram, type Meter, type Tracer } from '@opentelemetry/api';
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
import { OFFERED_SPAN, offerSpan } from './call-span.js';
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
  /** Span names and start attributes by method and tool, built once each (bounded: names past the bound are built per request). */
  readonly #starts = new Map<string, { readonly name: string; readonly attributes: Attributes }>();

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
   *
   * For `tools/call` the span is offered to the scheduler call `handle` runs: a `TracingObserver`
   * takes it (adds its `gen_ai.tool.call.id`, `mcp_concurrency.*` attributes and events to it) instead
   * of starting an `execute_tool` span, so a request is one span, as the MCP conventions describe it.
   * `options.shareWithCall: false` keeps it for the request alone (a batch: each inner call gets its
   * own `execute_tool` span, children of this one).
   */
  server<T>(info: McpRequestInfo, meta: unknown, handle: () => T | Promise<T>, options?: { readonly shareWithCall?: boolean }): Promise<T> {
    const parent = extractMeta(meta, { propagator: this.#propagator });
    const share = info.method === 'tools/call' && options?.shareWithCall !== false;
    return this.#run(SpanKind.SERVER, info, parent, handle, share);
  }

  /**
   * Runs `send` inside a CLIENT span (child of the active context), handing it the request's
   * `_meta` with that span's context added (`meta` itself is not changed).
   */
  client<T>(info: McpRequestInfo, meta: Record<string, unknown> | undefined, send: (meta: Record<string, unknown> | undefined) => T | Promise<T>): Promise<T> {
    return this.#run(SpanKind.CLIENT, info, context.active(), () => send(injectMeta(meta, { propagator: this.#propagator })), false);
  }

  async #run<T>(kind: SpanKind, info: McpRequestInfo, parent: Context, fn: () => T | Promise<T>, share: boolean): Promise<T> {
    const start = this.#start(info);
    // The sampler decides on the name, kind and the low-cardinality attributes; the rest is built only for a recording span.
    const span = this.#tracer.startSpan(start.name, { kind, attributes: start.attributes }, parent);
    const recording = span.isRecording();
    if (recording) span.setAttributes(requestAttributes(info));
    const started = this.#durations === undefined ? 0 : this.#clock.now();
    let active = trace.setSpan(parent, span);
    const offer = share ? offerSpan(span) : undefined;
    if (offer !== undefined) active = active.setValue(OFFERED_SPAN, offer);
    let errorType: string | undefined;
    let statusCode: string | undefined;
    try {
      const result = await context.with(active, fn);
      if ((result as { isError?: unknown } | null | undefined)?.isError === true) {
        errorType = TOOL_ERROR;
        if (recording) {
          // The result's text is the tool's output: recorded only by TracingObserver's opt-in, not here.
          span.setAttribute(ATTR_ERROR_TYPE, TOOL_ERROR);
          // A call that took the span has set its status with the call's own message already.
          if (offer?.taken !== true) span.setStatus({ code: SpanStatusCode.ERROR, message: TOOL_ERROR });
        }
      }
      return result;
    } catch (error) {
      [errorType, statusCode] = failureOf(error);
      if (recording) {
        if (statusCode !== undefined) span.setAttribute(ATTR_RPC_RESPONSE_STATUS_CODE, statusCode);
        span.setAttribute(ATTR_ERROR_TYPE, errorType);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      throw error;
    } finally {
      span.end();
      if (this.#durations !== undefined) {
        const seconds = (this.#clock.now() - started) / 1000;
        const attributes: Attributes = { ...start.attributes };
        if (info.protocolVersion !== undefined) attributes[ATTR_MCP_PROTOCOL_VERSION] = info.protocolVersion;
        if (info.transport !== undefined) attributes[ATTR_NETWORK_TRANSPORT] = info.transport;
        if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
        if (statusCode !== undefined) attributes[ATTR_RPC_RESPONSE_STATUS_CODE] = statusCode;
        (kind === SpanKind.SERVER ? this.#durations.server : this.#durations.client).record(seconds, attributes);
      }
    }
  }

  /** The span name and the attributes known before sampling (method, tool, operation): built once per method and tool. */
  #start(info: McpRequestInfo): { readonly name: string; readonly attributes: Attributes } {
    const key = info.tool === undefined ? info.method : `${info.method}\u0000${info.tool}`;
    let start = this.#starts.get(key);
    if (start === undefined) {
      const attributes: Attributes = { [ATTR_MCP_METHOD_NAME]: info.method };
      if (info.tool !== undefined) {
        attributes[ATTR_GEN_AI_TOOL_NAME] = info.tool;
        if (info.method === 'tools/call') attributes[ATTR_GEN_AI_OPERATION_NAME] = EXECUTE_TOOL;
      }
      start = { name: info.tool === undefined ? info.method : `${info.method} ${info.tool}`, attributes: Object.freeze(attributes) };
      if (this.#starts.size < MAX_CACHED_NAMES) this.#starts.set(key, start);
    }
    return start;
  }
}

/** How many (method, tool) pairs keep their span name and start attributes cached. */
const MAX_CACHED_NAMES = 1024;

/** The attributes of one request that a sampler does not see: ids, session, protocol version, transport, peer. */
function requestAttributes(info: McpRequestInfo): Attributes {
  const attributes: Attributes = {};
  if (info.requestId !== undefined && info.requestId !== null) attributes[ATTR_JSONRPC_REQUEST_ID] = String(info.requestId);
  if (info.sessionId !== undefined) attributes[ATTR_MCP_SESSION_ID] = info.sessionId;
  if (info.protocolVersion !== undefined) attributes[ATTR_MCP_PROTOCOL_VERSION] = info.protocolVersion;
  if (info.transport !== undefined) attributes[ATTR_NETWORK_TRANSPORT] = info.transport;
  if (info.serverAddress !== undefined) attributes[ATTR_SERVER_ADDRESS] = info.serverAddress;
  if (info.serverPort !== undefined) attributes[ATTR_SERVER_PORT] = info.serverPort;
  return attributes;
}

/** A JSON-RPC error's numeric code becomes `error.type` and `rpc.response.status_code`; anything else its `code` or name. */
function failureOf(error: unknown): [errorType: string, statusCode: string | undefined] {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && Number.isInteger(code)) return [String(code), String(code)];
  if (typeof code === 'string' && code !== '') return [code, undefined];
  return [error instanceof Error ? error.name : '_OTHER', undefined];
}

function histogram(meter: Meter, name: string, description: string): Histogram {
  return meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: DURATION_BUCKETS } });
}
