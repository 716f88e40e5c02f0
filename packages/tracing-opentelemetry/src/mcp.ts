import { invalidArgument } from '@mcp-concurrency/core-scheduler';
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
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
}

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

  constructor(options: McpTracingOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    if (typeof (options.tracer as Partial<Tracer> | undefined)?.startSpan !== 'function') {
      throw invalidArgument('tracer', 'an OpenTelemetry Tracer', options.tracer);
    }
    this.#tracer = options.tracer;
    this.#propagator = options.propagator;
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
    const span = this.#tracer.startSpan(info.tool === undefined ? info.method : `${info.method} ${info.tool}`, { kind, attributes: attributesOf(info) }, parent);
    try {
      const result = await context.with(trace.setSpan(parent, span), fn);
      const isError = (result as { isError?: unknown } | null | undefined)?.isError === true;
      if (isError && span.isRecording()) {
        span.setAttribute(ATTR_ERROR_TYPE, TOOL_ERROR);
        // The result's text is the tool's output: recorded only by TracingObserver's opt-in, not here.
        span.setStatus({ code: SpanStatusCode.ERROR, message: TOOL_ERROR });
      }
      return result;
    } catch (error) {
      if (span.isRecording()) recordFailure(span, error);
      throw error;
    } finally {
      span.end();
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
function recordFailure(span: Span, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  let type: string;
  if (typeof code === 'number' && Number.isInteger(code)) {
    type = String(code);
    span.setAttribute(ATTR_RPC_RESPONSE_STATUS_CODE, type);
  } else if (typeof code === 'string' && code !== '') type = code;
  else type = error instanceof Error ? error.name : '_OTHER';
  span.setAttribute(ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
