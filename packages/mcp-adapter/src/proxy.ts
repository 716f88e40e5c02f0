import { describeThrown, McpConcurrencyError, type ToolContext } from '@mcp-concurrency/core-scheduler';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema, type Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import type { ProxyRule } from './config/load.js';
import type { ToolRuntime } from './runtime.js';

/** How to reach an MCP server: a command over stdio, or a Streamable HTTP URL. */
export type UpstreamSpec =
  | { readonly command: string; readonly args?: readonly string[]; readonly env?: Readonly<Record<string, string>>; readonly cwd?: string }
  | { readonly url: string; readonly headers?: Readonly<Record<string, string>> };

/** Connects an SDK `Client` to an upstream server. */
export async function connectUpstream(spec: UpstreamSpec, name = 'mcp-concurrency'): Promise<Client> {
  const client = new Client({ name, version: '0.1.0' });
  const transport =
    'url' in spec
      ? new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: { ...spec.headers } } })
      : new StdioClientTransport({
          command: spec.command,
          args: [...(spec.args ?? [])],
          cwd: spec.cwd,
          env: { ...(process.env as Record<string, string>), ...spec.env },
          stderr: 'inherit',
        });
  try {
    await client.connect(transport);
  } catch (error) {
    throw new McpConcurrencyError('upstream_error', `Cannot connect to the upstream MCP server (${'url' in spec ? spec.url : spec.command}): ${describeThrown(error)}`, { cause: error });
  }
  return client;
}

/** `search_*`, `*`, `db.?` globs to a RegExp. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/**
 * Puts the runtime's policies in front of an upstream server: its tools are listed as they are, and
 * each call runs through the scheduler under the first proxy rule whose glob matches the tool's
 * name, then goes upstream with its signal (cancellation becomes `notifications/cancelled` upstream).
 * Tools the upstream adds later (`tools/list_changed`) are picked up.
 */
export async function proxyUpstream(runtime: ToolRuntime, client: Client, rules: readonly ProxyRule[]): Promise<void> {
  const matchers = rules.map((rule) => ({ rule, pattern: globToRegExp(rule.match) }));
  const register = (tool: McpTool): void => {
    if (runtime.has(tool.name)) return;
    const rule = matchers.find((m) => m.pattern.test(tool.name))?.rule;
    runtime.addTool(
      {
        name: tool.name,
        description: tool.description ?? tool.name,
        inputSchema: tool.inputSchema as Record<string, unknown>,
        run: async (args: unknown, ctx: ToolContext) => {
          try {
            // The scheduler owns the deadline (and the SDK's own 60 s default would cut long tools short).
            const send = (meta?: Record<string, unknown>) =>
              client.callTool({ name: tool.name, arguments: args as Record<string, unknown>, ...(meta && { _meta: meta }) }, undefined, { signal: ctx.signal, timeout: 2 ** 31 - 1 });
            // Traced: a CLIENT span, its context sent upstream in params._meta.
            return await (runtime.tracing === undefined ? send() : runtime.tracing.mcp.client({ method: 'tools/call', tool: tool.name }, undefined, send));
          } catch (error) {
            if (ctx.signal.aborted) throw ctx.signal.reason;
            throw new McpConcurrencyError('upstream_error', `Upstream call to "${tool.name}" failed: ${describeThrown(error)}`, { cause: error, retryable: true });
          }
        },
      },
      {
        maxParallel: rule?.maxParallel,
        rateLimit: rule?.rateLimit,
        timeoutMs: rule?.timeoutMs,
        retry: rule?.retry,
        annotations: tool.annotations === undefined ? undefined : { ...tool.annotations },
      },
    );
  };
  const refresh = async (): Promise<void> => {
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor });
      page.tools.forEach(register);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  };
  await refresh();
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
    await refresh().catch(() => {});
  });
}
