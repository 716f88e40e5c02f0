import { McpConcurrencyError, type ToolCall, type ToolResult } from '@mcp-concurrency/core-scheduler';
import { Server, type CallToolResult, type LoggingLevel, type ServerContext, type Tool as McpTool } from '@modelcontextprotocol/server';
import type { ToolLog, ToolLogLevel, ToolRuntime } from '../runtime.js';
import { nonObjectArguments } from './arguments-guard.js';
import { queuedProgress } from './progress.js';
import { serverRequestInfo } from './trace-info.js';

export interface McpServerOptions {
  /** How often a queued call with a progressToken hears that it is still waiting, in ms. @default 1_000 */
  readonly progressIntervalMs?: number;
  /** Sent to clients in the `initialize` result (2025 revisions) or `server/discover` (2026-07-28). @default none */
  readonly instructions?: string;
  /**
   * The level a 2025-revision client hears until it sends `logging/setLevel` (the spec leaves this default to
   * the server: basic/utilities/logging). 2026-07-28 requests carry their level in `_meta` and hear nothing
   * without one. @default 'info' (tools' `debug` start events are left out)
   */
  readonly defaultLogLevel?: LoggingLevel;
}

export const BATCH_TOOL = 'batch';

/**
 * An MCP server (the SDK v2 low-level `Server`) whose every `tools/call` runs through the runtime's
 * scheduler: refusals come back as tool errors a model can read (`isError`, code, `retryAfterMs`),
 * cancellation (`notifications/cancelled` on 2025 revisions, the closed response stream on 2026-07-28)
 * aborts the call all the way down, and a call that has to wait for a slot with a `progressToken` gets
 * "queued" progress notifications until it starts (a call that starts at once gets none). It declares
 * `logging`: tools' stderr lines and events reach the client as `notifications/message` at the
 * client's own level (`logging/setLevel`, or the request's `logLevel` on 2026-07-28).
 * One per session (2025) or per request (2026-07-28); the runtime is shared.
 */
export function createMcpServer(runtime: ToolRuntime, options: McpServerOptions = {}): Server {
  const config = runtime.config;
  const server = new Server(
    { name: config.name, version: config.version },
    { capabilities: { tools: {}, logging: {} }, ...(options.instructions === undefined ? {} : { instructions: options.instructions }) },
  );
  const progressIntervalMs = options.progressIntervalMs ?? 1_000;
  // 2025 revisions: one server per session, so this is the session's level. The SDK's own handler would keep
  // none until the client sets one, and send every level meanwhile.
  let sessionLevel: LoggingLevel = options.defaultLogLevel ?? 'info';
  if (!LOG_SEVERITY.has(sessionLevel)) throw new McpConcurrencyError('invalid_argument', `Expected \`defaultLogLevel\` to be one of ${[...LOG_SEVERITY.keys()].join(', ')}, got \`${String(sessionLevel)}\``);
  server.setRequestHandler('logging/setLevel', async (request) => {
    sessionLevel = request.params.level;
    return {};
  });
  const log = (ctx: ServerContext): ToolLog => clientLog(ctx, () => sessionLevel);

  server.setRequestHandler('tools/list', async () => {
    const tools: McpTool[] = runtime.tools.map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: t.inputSchema as McpTool['inputSchema'],
      ...(t.annotations ? { annotations: t.annotations } : {}),
    }));
    if (config.batch) tools.push(batchToolDefinition(config.batch.maxCalls));
    return { tools };
  });

  server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
    const { name, arguments: given } = request.params;
    const refused = nonObjectArguments(name, given);
    if (refused !== undefined) return refused;
    const args = given ?? {};
    const tooLarge = oversizeArguments(args, config.maxArgumentBytes);
    if (tooLarge !== undefined) return errorResult('invalid_params', tooLarge);
    if (config.batch && name === BATCH_TOOL) {
      const limits = { maxCalls: config.batch.maxCalls, maxArgumentBytes: config.maxArgumentBytes };
      const batch = (): Promise<CallToolResult> => runBatchTool(runtime, args, limits, ctx.mcpReq.signal, ctx.sessionId);
      // Traced: the batch's SERVER span (parent from _meta) is its own; each inner call gets an execute_tool span under it.
      if (runtime.tracing === undefined) return batch();
      return runtime.tracing.mcp.server(serverRequestInfo(server, ctx, 'tools/call', BATCH_TOOL), request.params._meta, batch, { shareWithCall: false });
    }
    const progress = queuedProgress(ctx, runtime, progressIntervalMs);
    const call = (): Promise<ToolResult> =>
      runtime.call(name, args, { signal: ctx.mcpReq.signal, sessionId: ctx.sessionId, id: String(ctx.mcpReq.id), onStart: progress.started, log: log(ctx) });
    const run = async (): Promise<CallToolResult> => toCallToolResult(await call());
    const tracing = runtime.tracing;
    try {
      if (tracing === undefined) return toCallToolResult(await progress.around(call()));
      // Traced: a SERVER span whose parent is the caller's span, carried in params._meta (MCP conventions).
      // An unknown tool's name is whatever the client sent: not a span name (cardinality).
      const info = serverRequestInfo(server, ctx, 'tools/call', runtime.has(name) ? name : undefined);
      return await progress.around(tracing.mcp.server(info, request.params._meta, run));
    } finally {
      progress.stop();
    }
  });
  return server;
}

function batchToolDefinition(maxCalls: number): McpTool {
  return {
    name: BATCH_TOOL,
    description:
      `Runs up to ${maxCalls} tool calls in one request, in parallel where they are independent. ` +
      'A call may list ids it depends on; an argument value {"$ref": "<id>", "path": "a.b.0"} takes that call\'s result. ' +
      'Returns one result per call, in order.',
    inputSchema: {
      type: 'object',
      required: ['calls'],
      properties: {
        calls: {
          type: 'array',
          maxItems: maxCalls,
          items: {
            type: 'object',
            required: ['id', 'tool'],
            properties: {
              id: { type: 'string' },
              tool: { type: 'string' },
              arguments: { type: 'object' },
              dependsOn: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
  };
}

interface BatchCall {
  readonly id: string;
  readonly tool: string;
  readonly arguments?: Record<string, unknown>;
  readonly dependsOn?: string[];
}

/** Why arguments are refused for their size (`limits.max_argument_bytes`, bytes of their JSON), or `undefined`. */
function oversizeArguments(args: unknown, maxBytes: number): string | undefined {
  const size = Buffer.byteLength(JSON.stringify(args) ?? '');
  return size > maxBytes ? `The arguments are ${size} bytes, over the ${maxBytes}-byte limit` : undefined;
}

async function runBatchTool(runtime: ToolRuntime, args: Record<string, unknown>, limits: { readonly maxCalls: number; readonly maxArgumentBytes: number }, signal: AbortSignal, sessionId: string | undefined): Promise<CallToolResult> {
  const { maxCalls, maxArgumentBytes } = limits;
  const calls = args['calls'];
  if (!Array.isArray(calls) || calls.length === 0) return errorResult('invalid_params', 'Argument "calls" must be a non-empty array');
  if (calls.length > maxCalls) return errorResult('invalid_params', `At most ${maxCalls} calls per batch, got ${calls.length}`);
  for (const [i, c] of (calls as unknown[]).entries()) {
    const call = c as Partial<BatchCall>;
    if (typeof call !== 'object' || call === null || typeof call.id !== 'string' || typeof call.tool !== 'string') {
      return errorResult('invalid_params', `calls[${i}] must be an object with string "id" and "tool"`);
    }
    if (call.tool === BATCH_TOOL) return errorResult('invalid_params', `calls[${i}]: a batch cannot contain a batch`);
  }
  const graph: ToolCall[] = (calls as BatchCall[]).map((c) => ({
    id: c.id,
    tool: c.tool,
    params: c.arguments ?? {},
    dependsOn: c.dependsOn,
    // Arguments filled in from other calls' results are held to the same size limit as written ones.
    paramsFrom: hasRef(c.arguments)
      ? (deps) => {
          const resolved = resolveRefs(c.arguments, deps);
          const tooLarge = oversizeArguments(resolved, maxArgumentBytes);
          if (tooLarge !== undefined) throw new McpConcurrencyError('invalid_params', tooLarge);
          return resolved;
        }
      : undefined,
  }));
  let results: ToolResult[];
  try {
    results = await runtime.graph(graph, { signal, sessionId });
  } catch (error) {
    if (error instanceof McpConcurrencyError) return errorResult(error.code, error.message);
    throw error;
  }
  const summary = results.map((r) => ({
    id: r.id,
    tool: r.tool,
    status: r.status,
    ...(r.status === 'ok' ? { result: plain(r.value) } : { error: r.error }),
  }));
  return { content: [{ type: 'text', text: JSON.stringify(summary) }], isError: results.every((r) => r.status !== 'ok') };
}

function hasRef(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasRef);
  if (typeof value === 'object' && value !== null) return '$ref' in value || Object.values(value).some(hasRef);
  return false;
}

/** Replaces `{ "$ref": id, "path": "a.b.0" }` by that dependency's result (or a part of it). */
function resolveRefs(value: unknown, deps: Readonly<Record<string, ToolResult>>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, deps));
  if (typeof value !== 'object' || value === null) return value;
  const ref = (value as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    const dep = deps[ref];
    if (dep === undefined) throw new Error(`"$ref": "${ref}" is not one of this call's dependencies`);
    let out: unknown = plain(dep.value);
    const path = (value as { path?: unknown }).path;
    for (const part of typeof path === 'string' && path !== '' ? path.split('.') : []) {
      out = (out as Record<string, unknown> | undefined)?.[part];
    }
    return out;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(v, deps)]));
}

/** What a model gets back: text results as is, structured ones as JSON. */
function plain(value: unknown): unknown {
  if (isCallToolResult(value)) {
    const text = value.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return value;
}

export function toCallToolResult(result: ToolResult): CallToolResult {
  if (result.status === 'ok') {
    if (isCallToolResult(result.value)) return result.value;
    const value = plain(result.value);
    return { content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value ?? null) }] };
  }
  const error = result.error ?? { code: 'tool_error' as const, message: result.status };
  return errorResult(error.code, error.message, error.retryAfterMs);
}

export function errorResult(code: string, message: string, retryAfterMs?: number): CallToolResult {
  const error = retryAfterMs === undefined ? { code, message } : { code, message, retryAfterMs };
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error }) }] };
}

function isCallToolResult(value: unknown): value is CallToolResult {
  return typeof value === 'object' && value !== null && Array.isArray((value as { content?: unknown }).content);
}

/** RFC 5424 severities as MCP logging orders them, least severe first. */
const LOG_SEVERITY: ReadonlyMap<string, number> = new Map(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'].map((level, i) => [level, i]));

/**
 * Log lines of a call, sent as `notifications/message` at the client's level (never throws). On a 2025
 * revision (no `_meta` envelope), `sessionLevel` when given is the level the session asked for (or the
 * server's default); a 2026-07-28 request's level is its envelope's, applied by the SDK.
 */
export function clientLog(ctx: ServerContext, sessionLevel?: () => ToolLogLevel): ToolLog {
  return (level, data, logger) => {
    if (sessionLevel !== undefined && ctx.mcpReq.envelope === undefined && LOG_SEVERITY.get(level)! < LOG_SEVERITY.get(sessionLevel())!) return;
    void ctx.mcpReq.log(level, data, logger).catch(() => {});
  };
}
