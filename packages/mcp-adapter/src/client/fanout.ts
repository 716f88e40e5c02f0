import { McpConcurrencyError, Scheduler, type SchedulerObserver, type ToolCall, type ToolContext, type ToolResult } from '@mcp-concurrency/core-scheduler';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';
import { McpTracing, TracingObserver } from '@mcp-concurrency/tracing-opentelemetry';
import { SdkError, SdkErrorCode, type CallToolResult, type Client, type Tool as McpTool } from '@modelcontextprotocol/client';
import type { Tracer } from '@opentelemetry/api';
import { connectUpstream, type UpstreamSpec } from '../proxy/connect.js';

/** A tool call as a model returns it: OpenAI, Anthropic, or plain (with optional dependencies). */
export type ModelToolCall =
  | { readonly id: string; readonly type?: 'function'; readonly function: { readonly name: string; readonly arguments: string } }
  | { readonly type: 'tool_use'; readonly id: string; readonly name: string; readonly input: Record<string, unknown> }
  | { readonly id: string; readonly name: string; readonly arguments?: Record<string, unknown>; readonly dependsOn?: readonly string[] };

export interface FanoutOptions {
  /** Servers by name. @example { github: { command: 'github-mcp' }, search: { url: 'http://127.0.0.1:3000/mcp' } } */
  readonly servers: Readonly<Record<string, UpstreamSpec>>;
  /** Calls running at once, all servers. @default 16 */
  readonly maxParallel?: number;
  /** Calls running at once per server. @default 4 */
  readonly budgetPerServer?: number;
  /** Per-call deadline; progress from the server resets it, up to `maxTotalTimeoutMs`. @default 60_000 */
  readonly timeoutMs?: number;
  /** @default 300_000 */
  readonly maxTotalTimeoutMs?: number;
  readonly observers?: readonly SchedulerObserver[];
  /**
   * Traces each call (an `execute_tool` span with the scheduler's detail, and a `tools/call` CLIENT
   * span) and sends its context to the server in `params._meta` (`traceparent`, `tracestate`). Needs
   * a registered context manager and propagator (an OpenTelemetry SDK's `register()`). @default no tracing
   */
  readonly tracer?: Tracer;
}

export interface FanoutTool {
  /** The name shown to the model: the server's own, or `server__tool` when two servers share it. */
  readonly name: string;
  readonly server: string;
  readonly tool: McpTool;
}

export interface FanoutResult {
  readonly id: string;
  readonly name: string;
  readonly isError: boolean;
  /** Text to send back to the model. */
  readonly content: string;
  readonly result: ToolResult;
}

interface Route {
  readonly server: string;
  readonly client: Client;
  readonly tool: string;
}

/**
 * Runs a model's tool calls against one or many MCP servers, concurrently: a budget per server, the
 * scheduler's dependency graph when calls depend on each other, one result per call in call order,
 * ready to send back to the model (`toOpenAIMessages`, `toAnthropicBlocks`). A deadline cancels the
 * call on the server (`notifications/cancelled`).
 */
export class McpFanout {
  readonly #clients: Map<string, Client>;
  readonly #routes = new Map<string, Route>();
  readonly #scheduler: Scheduler;
  #closing: Promise<void> | undefined;
  readonly tools: readonly FanoutTool[];

  private constructor(clients: Map<string, Client>, tools: FanoutTool[], options: FanoutOptions) {
    this.#clients = clients;
    this.tools = tools;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const maxTotalTimeoutMs = options.maxTotalTimeoutMs ?? 300_000;
    const tracing = options.tracer === undefined ? undefined : { observer: new TracingObserver({ tracer: options.tracer }), mcp: new McpTracing({ tracer: options.tracer }) };
    this.#scheduler = new Scheduler({
      maxParallel: options.maxParallel ?? 16,
      key: (call) => this.#routes.get(call.tool)?.server,
      maxPerKey: options.budgetPerServer ?? 4,
      observers: tracing === undefined ? options.observers : [...(options.observers ?? []), tracing.observer],
    });
    for (const t of tools) {
      const route: Route = { server: t.server, client: clients.get(t.server)!, tool: t.tool.name };
      this.#routes.set(t.name, route);
      const tool = {
        name: t.name,
        run: async (args: Record<string, unknown> | InvalidArguments | undefined, ctx: ToolContext) => {
          if (args instanceof InvalidArguments) {
            throw new McpConcurrencyError('invalid_params', `The arguments are not valid JSON: ${args.text.slice(0, 80)}`);
          }
          try {
            const send = (meta?: Record<string, unknown>) =>
              route.client.callTool({ name: route.tool, arguments: args ?? {}, ...(meta && { _meta: meta }) }, {
                signal: ctx.signal,
                timeout: timeoutMs,
                resetTimeoutOnProgress: true,
                maxTotalTimeout: maxTotalTimeoutMs,
                onprogress: () => {},
              });
            // Traced: a CLIENT span, its context sent to the server in params._meta.
            return await (tracing === undefined ? send() : tracing.mcp.client({ method: 'tools/call', tool: route.tool }, undefined, send));
          } catch (error) {
            if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
              throw new McpConcurrencyError('timeout', `${t.name} on ${t.server}: no answer within the deadline; the call was cancelled on the server`);
            }
            if (ctx.signal.aborted) throw ctx.signal.reason;
            throw new McpConcurrencyError('upstream_error', `${t.name} on ${t.server}: ${describeThrown(error)}`, { cause: error });
          }
        },
      };
      // Traced, the call runs inside its span, which the CLIENT span (and so the server's) descends from.
      this.#scheduler.register(tracing === undefined ? tool : tracing.observer.wrap(tool));
    }
  }

  /** Connects to every server and lists its tools; names that collide get a `server__` prefix. */
  static async connect(options: FanoutOptions): Promise<McpFanout> {
    const clients = new Map<string, Client>();
    try {
      for (const [name, spec] of Object.entries(options.servers)) clients.set(name, await connectUpstream(spec, `fanout:${name}`));
      const listed: { server: string; tool: McpTool }[] = [];
      for (const [server, client] of clients) {
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor === undefined ? undefined : { cursor });
          for (const tool of page.tools) listed.push({ server, tool });
          cursor = page.nextCursor;
        } while (cursor !== undefined);
      }
      const count = new Map<string, number>();
      for (const { tool } of listed) count.set(tool.name, (count.get(tool.name) ?? 0) + 1);
      const tools = listed.map(({ server, tool }) => ({ name: count.get(tool.name)! > 1 ? `${server}__${tool.name}` : tool.name, server, tool }));
      return new McpFanout(clients, tools, options);
    } catch (error) {
      await Promise.all([...clients.values()].map((c) => c.close().catch(() => {})));
      throw error;
    }
  }

  /** Tool definitions for the model, in the OpenAI `tools` shape. */
  openAITools(): { type: 'function'; function: { name: string; description?: string; parameters: McpTool['inputSchema'] } }[] {
    return this.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.tool.description, parameters: t.tool.inputSchema } }));
  }

  /** Tool definitions for the model, in the Anthropic `tools` shape. */
  anthropicTools(): { name: string; description?: string; input_schema: McpTool['inputSchema'] }[] {
    return this.tools.map((t) => ({ name: t.name, description: t.tool.description, input_schema: t.tool.inputSchema }));
  }

  /** Runs the calls; one result per call, in call order. Never rejects for a call's failure. */
  async run(calls: readonly ModelToolCall[], options: { readonly signal?: AbortSignal } = {}): Promise<FanoutResult[]> {
    const normalized: ToolCall[] = calls.map((call, i) => {
      if ('function' in call) {
        let args: unknown;
        try {
          args = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
        } catch {
          args = new InvalidArguments(call.function.arguments);
        }
        return { id: call.id ?? String(i), tool: call.function.name, params: args };
      }
      if ('input' in call) return { id: call.id, tool: call.name, params: call.input };
      return { id: call.id, tool: call.name, params: call.arguments ?? {}, dependsOn: call.dependsOn };
    });
    const results = await this.#scheduler.runBatch(normalized, options);
    return results.map((result, i) => present(normalized[i]!, result));
  }

  /** Results as OpenAI `tool` messages. */
  static toOpenAIMessages(results: readonly FanoutResult[]): { role: 'tool'; tool_call_id: string; content: string }[] {
    return results.map((r) => ({ role: 'tool', tool_call_id: r.id, content: r.content }));
  }

  /** Results as Anthropic `tool_result` blocks. */
  static toAnthropicBlocks(results: readonly FanoutResult[]): { type: 'tool_result'; tool_use_id: string; content: string; is_error: boolean }[] {
    return results.map((r) => ({ type: 'tool_result', tool_use_id: r.id, content: r.content, is_error: r.isError }));
  }

  /**
   * Stops taking calls (later `run()` calls settle `rejected`, code `closed`), lets running calls finish
   * for up to `graceMs` (ms, default Infinity) or until `signal` aborts (then they are cancelled on the
   * servers), and closes every connection. Idempotent; resolves when every call has its result.
   */
  close(options: { readonly graceMs?: number; readonly signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closing === undefined) {
      const stop = (): void => void this.#scheduler.destroy(options.signal?.reason);
      options.signal?.addEventListener('abort', stop, { once: true });
      if (options.signal?.aborted) stop();
      this.#closing = this.#scheduler
        .close({ graceMs: options.graceMs ?? Infinity })
        .then(() => Promise.all([...this.#clients.values()].map((c) => c.close().catch(() => {}))))
        .then(() => options.signal?.removeEventListener('abort', stop));
    }
    return this.#closing!;
  }

  /** Cancels running calls (on the servers too) and closes every connection now. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    const closing = this.close({ graceMs: 0 });
    void this.#scheduler.destroy(reason);
    return closing;
  }
}

class InvalidArguments {
  constructor(readonly text: string) {}
}

function present(call: ToolCall, result: ToolResult): FanoutResult {
  if (result.status === 'ok') {
    const value = result.value as CallToolResult;
    const content = value.content.map((c) => (c.type === 'text' ? c.text : JSON.stringify(c))).join('\n');
    return { id: call.id!, name: call.tool, isError: value.isError === true, content, result };
  }
  const error = result.error ?? { code: 'tool_error', message: result.status };
  return { id: call.id!, name: call.tool, isError: true, content: JSON.stringify({ error }), result };
}
