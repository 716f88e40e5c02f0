import { McpConcurrencyError, Scheduler, type SchedulerOptions, type ToolContext, type ToolPolicy } from '@mcp-concurrency/core-scheduler';
import type { CallToolResult, McpServer, RegisteredTool, ServerContext } from '@modelcontextprotocol/server';
import { globToRegExp } from '../proxy/connect.js';
import { errorResult, toCallToolResult } from './mcp-server.js';

export interface WithConcurrencyOptions extends Omit<SchedulerOptions, 'tools' | 'policies' | 'key' | 'maxPerKey'> {
  /** A scheduler you own; the other options then only add policies. */
  readonly scheduler?: Scheduler;
  /** Policies by tool-name glob; the first match wins. @example { 'search_*': { maxParallel: 2, limiters: ['api'] } } */
  readonly policies?: Readonly<Record<string, ToolPolicy>>;
  /** Calls of one MCP session running at once. @default unlimited */
  readonly maxPerSession?: number;
}

type Handler = (...args: unknown[]) => unknown;
interface Envelope {
  readonly args: unknown[];
  readonly sessionId: string | undefined;
}

/**
 * Puts every tool of an SDK v2 `McpServer` (`@modelcontextprotocol/server`), registered before or
 * after this call, under a scheduler: global, per-tool and per-session limits, named limiters,
 * deadlines that abort the handler's `ctx.mcpReq.signal`, retries for tools annotated `idempotentHint`
 * (only), and limit refusals returned as tool errors (`isError`, code, `retryAfterMs`). A v1
 * `McpServer` (`@modelcontextprotocol/sdk`) is not accepted: see the README ("Users of SDK v1").
 *
 * @example
 * const server = new McpServer({ name: 'search', version: '1.0.0' });
 * const { scheduler } = withConcurrency(server, { maxParallel: 8, policies: { 'web_*': { maxParallel: 2, timeoutMs: 10_000 } } });
 */
export function withConcurrency(server: McpServer, options: WithConcurrencyOptions = {}): { scheduler: Scheduler } {
  const { scheduler: given, policies = {}, maxPerSession, ...schedulerOptions } = options;
  const scheduler =
    given ??
    new Scheduler({
      ...schedulerOptions,
      key: maxPerSession === undefined ? undefined : (call) => (call.params as Envelope).sessionId,
      maxPerKey: maxPerSession,
    });
  const rules = Object.entries(policies).map(([glob, policy]) => ({ pattern: globToRegExp(glob), policy }));

  const wrap = (name: string, tool: RegisteredTool): void => {
    const original = tool.handler as unknown as Handler;
    if ((original as { __mcpConcurrency?: boolean }).__mcpConcurrency) return;
    const policy: ToolPolicy = { ...rules.find((r) => r.pattern.test(name))?.policy };
    // Retry only what says it is safe to repeat.
    const retry = tool.annotations?.idempotentHint === true ? policy.retry : undefined;
    scheduler.register(
      {
        name,
        run: (envelope: Envelope, ctx: ToolContext) => {
          const args = [...envelope.args];
          const given = args[args.length - 1] as ServerContext;
          // The handler sees our deadline and cancellation.
          args[args.length - 1] = { ...given, mcpReq: { ...given.mcpReq, signal: ctx.signal } } satisfies ServerContext;
          return original(...args);
        },
      },
      { ...policy, retry },
    );
    const wrapped: Handler = async (...args: unknown[]): Promise<CallToolResult> => {
      const ctx = args[args.length - 1] as ServerContext;
      const result = await scheduler.run({ id: String(ctx.mcpReq.id), tool: name, params: { args, sessionId: ctx.sessionId } satisfies Envelope }, { signal: ctx.mcpReq.signal });
      if (result.status === 'ok') return toCallToolResult(result);
      const error = result.error ?? { code: 'tool_error', message: result.status };
      return errorResult(error.code, error.message, error.retryAfterMs);
    };
    Object.defineProperty(wrapped, '__mcpConcurrency', { value: true });
    // update() is the SDK's public way to swap a handler (it rebuilds the tool's executor).
    tool.update({ callback: wrapped as unknown as RegisteredTool['handler'] } as Parameters<RegisteredTool['update']>[0]);
  };

  const registered = (server as unknown as { _registeredTools?: Record<string, RegisteredTool> })._registeredTools;
  if (registered === undefined || typeof server.registerTool !== 'function') {
    throw new McpConcurrencyError('invalid_argument', 'withConcurrency: expected an McpServer of @modelcontextprotocol/server 2.x (a v1 McpServer: see the README, "Users of SDK v1")');
  }
  for (const [name, tool] of Object.entries(registered)) wrap(name, tool);
  const registerTool = server.registerTool.bind(server) as (...a: unknown[]) => RegisteredTool;
  (server as unknown as { registerTool: (...a: unknown[]) => RegisteredTool }).registerTool = (...a: unknown[]) => {
    const tool = registerTool(...a);
    wrap(a[0] as string, tool);
    return tool;
  };
  return { scheduler };
}
