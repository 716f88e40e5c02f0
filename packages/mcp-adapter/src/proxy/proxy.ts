import { AsyncLocalStorage } from 'node:async_hooks';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import type { McpRequestInfo } from '@mcp-concurrency/tracing-opentelemetry';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';
import type { Client, PriorDiscovery, Tool as McpTool } from '@modelcontextprotocol/client';
import { McpServer, ProtocolError, type CallToolResult, type LoggingLevel, type McpServerFactory, type Server, type ServerCapabilities, type ServerContext, type ServerNotifier } from '@modelcontextprotocol/server';
import type { ProxyRule } from '../config/load.js';
import type { ToolRunContext, ToolRuntime } from '../runtime.js';
import { nonObjectArguments } from '../server/arguments-guard.js';
import { clientLog, errorResult } from '../server/mcp-server.js';
import { queuedProgress, type QueuedProgress } from '../server/progress.js';
import { serverRequestInfo } from '../server/trace-info.js';
import { connectUpstream, globToRegExp, priorOf, type UpstreamSpec } from './connect.js';
import { UpstreamSession } from './upstream-session.js';

export interface ProxyOptions {
  /** The upstream server. */
  readonly upstream: UpstreamSpec;
  /** Policies by tool-name glob (the config's `proxy.tools`); the first match wins. @default [] (the runtime's global limits only) */
  readonly rules?: readonly ProxyRule[];
  /** The name and version clients see. @default the upstream's own `serverInfo` */
  readonly identity?: { readonly name: string; readonly version: string };
  /** How often a queued call with a progressToken hears that it waits, in ms. @default 1_000 */
  readonly progressIntervalMs?: number;
  /**
   * Limits for `resources/read` and `prompts/get` too (each its own cap, rate limit and deadline, beside the
   * runtime's global limits); without one, those requests go upstream directly.
   * @default {} (no limits on them)
   * @example { 'resources/read': { maxParallel: 4, timeoutMs: 5_000 } }
   */
  readonly methods?: Readonly<Partial<Record<LimitedMethod, Omit<ProxyRule, 'match'>>>>;
}

/** Distinct tool names the upstream never listed that the proxy passes on; past this, such a call gets an `unknown_tool` error. */
const MAX_UNLISTED_TOOLS = 100;

/** Requests other than `tools/call` that can be put under a policy. */
export type LimitedMethod = 'resources/read' | 'prompts/get';

/** Request methods passed upstream as they are, each under the capability that allows it. */
const FORWARDED = {
  resources: ['resources/list', 'resources/templates/list', 'resources/read'],
  prompts: ['prompts/list', 'prompts/get'],
  completions: ['completion/complete'],
  logging: ['logging/setLevel'],
} as const;

/** The value a proxied tool returns when the upstream answered with a JSON-RPC error: passed through as that error. */
class UpstreamProtocolError {
  constructor(readonly error: { code: number; message: string; data?: unknown }) {}
}

/**
 * A transparent proxy in front of one upstream MCP server (stdio or Streamable HTTP, either protocol
 * era): every capability the upstream declares is declared again and passed through (tools with every
 * field, resources with subscribe/updated, prompts, completions, logging, progress, sampling,
 * elicitation, roots, list_changed, ping, instructions); `tools/call` runs through the runtime's
 * scheduler under the first matching rule. Each 2025-revision client gets its own upstream session,
 * closed when the client goes away; 2026-07-28 requests (stateless) share one upstream connection,
 * each with its own request context.
 */
export class McpProxy {
  readonly #runtime: ToolRuntime;
  readonly #options: ProxyOptions;
  readonly #shared: Client;
  readonly #prior: PriorDiscovery;
  readonly #matchers: { rule: ProxyRule; pattern: RegExp }[];
  readonly #sessions = new Set<UpstreamSession>();
  /** Names called that the upstream has not listed (metrics label them `other`). */
  readonly #unlisted = new Set<string>();
  /** The input schema of each tool the upstream listed last (by name): what `Mcp-Param-*` headers are checked against. */
  readonly #inputSchemas = new Map<string, Record<string, unknown>>();
  /** The requests in flight over the shared connection (2026-07-28 requests): where its log lines may go. */
  readonly #sharedInFlight = new Set<ServerContext>();
  /** The request an upstream request over the shared connection is made for (the POST's async context). */
  readonly #sharedOrigin: AsyncLocalStorage<ServerContext>;
  /** Where a change the upstream announces goes: the `subscriptions/listen` streams of 2026-07-28 clients (see relayChanges). */
  readonly #notifiers = new Set<ServerNotifier>();
  #closing: Promise<void> | undefined;

  private constructor(runtime: ToolRuntime, shared: Client, options: ProxyOptions, origin: AsyncLocalStorage<ServerContext>) {
    this.#sharedOrigin = origin;
    this.#runtime = runtime;
    this.#options = options;
    this.#shared = shared;
    this.#prior = priorOf(shared);
    this.#matchers = (options.rules ?? []).map((rule) => ({ rule, pattern: globToRegExp(rule.match) }));
    // Over Streamable HTTP a request's lines come on its own response stream (relayed from there, see connect).
    if (!('url' in options.upstream)) shared.setNotificationHandler('notifications/message', (notification) => this.#relayLog(notification.params));
  }

  /**
   * Relays a log line of a stdio upstream's shared connection to the request it belongs to, at that
   * request's own level (`ctx.mcpReq.log` applies the `logLevel` of its envelope). A stdio line names no
   * request (nor does the SDK client's notification handler tell which request it came with), so it is
   * relayed only while exactly one request is in flight over the shared connection, the only one it can
   * belong to; with several in flight it is dropped rather than risk giving one client another's lines.
   */
  #relayLog(params: { level: LoggingLevel; data: unknown; logger?: string }): void {
    if (this.#sharedInFlight.size !== 1) return;
    const [ctx] = this.#sharedInFlight;
    relayLine(ctx!, params);
  }

  /** Runs `work` with `ctx` known as a request in flight over the shared connection. */
  async #overShared<T>(ctx: ServerContext, work: () => Promise<T>): Promise<T> {
    this.#sharedInFlight.add(ctx);
    try {
      return await this.#sharedOrigin.run(ctx, work);
    } finally {
      this.#sharedInFlight.delete(ctx);
    }
  }

  /** Connects once to learn the upstream's capabilities, identity, instructions and tools. */
  static async connect(runtime: ToolRuntime, options: ProxyOptions): Promise<McpProxy> {
    // Probed (`server/discover`, for a command on a short-lived sibling process): a 2026-07-28 upstream serves
    // 2026-07-28 clients with their own request context; a 2025-only one answers them over `initialize`.
    // Over Streamable HTTP, the log lines on a request's own response stream go to the request it was made for.
    const origin = new AsyncLocalStorage<ServerContext>();
    const onResponseStream = () => {
      const ctx = origin.getStore();
      return ctx === undefined ? undefined : (message: { method: string; params?: Record<string, unknown> }) => void (message.method === 'notifications/message' && relayLine(ctx, message.params));
    };
    // The upstream's list changes, heard on the shared connection (a listen stream on a 2026-07-28 upstream),
    // go to the 2026-07-28 clients' listen streams; each 2025-revision client hears its own upstream session's.
    const made: { proxy?: McpProxy } = {};
    const heard = (kind: 'tools' | 'prompts' | 'resources') => ({ autoRefresh: false, debounceMs: 0, onChanged: () => void (made.proxy === undefined ? undefined : made.proxy.#changed(kind)) });
    const listChanged = { tools: heard('tools'), prompts: heard('prompts'), resources: heard('resources') };
    const shared = await connectUpstream(options.upstream, { name: `${runtime.config.name}-proxy`, era: 'auto', onResponseStream, listChanged });
    const proxy = new McpProxy(runtime, shared, options, origin);
    made.proxy = proxy;
    try {
      if (shared.getServerCapabilities()?.tools) await proxy.#listTools(shared);
    } catch (error) {
      await shared.close().catch(() => {});
      throw new McpConcurrencyError('upstream_error', `The upstream MCP server failed to list its tools: ${describeThrown(error)}`, { cause: error });
    }
    return proxy;
  }

  /**
   * Relays the upstream's `list_changed` notifications (tools, prompts, resources) to the `subscriptions/listen`
   * streams of 2026-07-28 clients: `notifier` is `serveHttp()`'s `Serving.notify`. (2025-revision clients hear
   * them from their own upstream sessions.) A tools change re-reads the upstream's tool list first, so a client
   * that lists again sees the new one. Returns the function that stops relaying.
   */
  relayChanges(notifier: ServerNotifier): () => void {
    this.#notifiers.add(notifier);
    return () => void this.#notifiers.delete(notifier);
  }

  #changed(kind: 'tools' | 'prompts' | 'resources'): void {
    const tell = (): void => {
      for (const notifier of this.#notifiers) {
        try {
          if (kind === 'tools') notifier.toolsChanged();
          else if (kind === 'prompts') notifier.promptsChanged();
          else notifier.resourcesChanged();
        } catch {
          // One notifier's failure is not another's.
        }
      }
    };
    if (kind === 'tools') void this.#listTools(this.#shared).catch(() => {}).finally(tell);
    else tell();
  }

  /** The upstream's capabilities as this proxy declares them (plus `logging`, `listChanged` for tools). */
  get capabilities(): ServerCapabilities {
    const upstream = this.#shared.getServerCapabilities() ?? {};
    const { tasks: _tasks, ...rest } = upstream as ServerCapabilities & { tasks?: unknown };
    return { ...rest, tools: { ...upstream.tools, listChanged: true }, logging: {} };
  }

  /** The upstream's protocol era: `modern` (2026-07-28, found by a `server/discover` probe) or `legacy` (2025 `initialize`). */
  get upstreamEra(): 'legacy' | 'modern' {
    return this.#shared.getProtocolEra() ?? 'legacy';
  }

  /** Upstream sessions open now (one per 2025-revision client that reached the upstream). */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * A factory for `serveStdio`/`serveHttp`: a proxy server per session (2025) or per request (2026-07-28).
   * Over Streamable HTTP, a 2026-07-28 `tools/call` whose `Mcp-Param-*` headers disagree with its arguments
   * (the upstream tool's `x-mcp-header` declarations, SEP-2243) is refused by the SDK with HTTP 400 / -32020
   * before it reaches the upstream.
   */
  readonly factory: McpServerFactory = ({ era }) => this.#build(era);

  /** One downstream server: its own upstream session for a 2025-revision client, the shared connection for a 2026-07-28 request. */
  createServer(era: 'legacy' | 'modern' = 'legacy'): Server {
    return this.#build(era).server;
  }

  #build(era: 'legacy' | 'modern'): McpServer {
    const upstreamInfo = this.#shared.getServerVersion();
    const identity = this.#options.identity ?? { name: upstreamInfo?.name ?? this.#runtime.config.name, version: upstreamInfo?.version ?? this.#runtime.config.version };
    const instructions = this.#shared.getInstructions();
    const capabilities = this.capabilities;
    const product = new ProxiedServer(identity, { capabilities, ...(instructions === undefined ? {} : { instructions }) }, (name) => this.#inputSchemas.get(name));
    const server = product.server;
    // A 2026-07-28 request to a 2026-07-28 upstream carries its own context upstream (envelope, retry fields).
    const modern = era === 'modern' && this.upstreamEra === 'modern';
    let session: UpstreamSession | undefined;
    if (era === 'legacy') {
      session = new UpstreamSession(server, this.#options.upstream, this.#prior, `${this.#runtime.config.name}-proxy`);
      session.onToolsChanged = () => void session?.client().then((c) => this.#listTools(c)).catch(() => {});
      // The upstream session is gone (it restarted or expired it, or died): the client's session ends too, so
      // its next request gets 404 and it starts over (initialize), with a new upstream session.
      session.onLost = () => void server.close().catch(() => {});
      this.#sessions.add(session);
      const close = (): void => {
        this.#sessions.delete(session!);
        void session!.close();
      };
      const previous = server.onclose;
      server.onclose = () => {
        previous?.();
        close();
      };
    }
    const upstream = (): Promise<Client> => (session === undefined ? Promise.resolve(this.#shared) : session.client());
    const during = <T>(ctx: ServerContext, work: () => Promise<T>): Promise<T> => (session === undefined ? this.#overShared(ctx, work) : session.during(ctx, work));

    const forward = (method: string) => async (request: { params?: Record<string, unknown> }, ctx: ServerContext) =>
      during(ctx, async () => {
        const client = await upstream();
        const progress = queuedProgress(ctx, this.#runtime, Number.POSITIVE_INFINITY);
        try {
          const params = withoutProgressToken(request.params);
          const message = { method, params: modern ? ownContext(params, ctx) : params } as { method: 'ping'; params?: Record<string, unknown> }; // any spec method: the result goes back as it came
          return await client.request(message, { ...requestOptions(ctx, progress), allowInputRequired: modern });
        } catch (error) {
          throw asProtocolError(error);
        }
      });

    if (capabilities.tools) {
      server.setRequestHandler('tools/list', async (request, ctx) => {
        const result = await forward('tools/list')(request, ctx);
        for (const tool of (result as { tools: McpTool[] }).tools) this.#register(tool);
        return result as { tools: McpTool[] };
      });
      server.setRequestHandler('tools/call', (request, ctx) => during(ctx, () => this.#callTool(server, request.params.name, request.params.arguments, ctx, upstream, modern)));
    }
    const offered = this.#shared.getServerCapabilities() ?? {};
    for (const [capability, methods] of Object.entries(FORWARDED)) {
      if (offered[capability as keyof ServerCapabilities] === undefined) continue; // (an upstream without logging: the SDK's own setLevel answers)
      for (const method of methods) server.setRequestHandler(method, (this.#limited(method, forward(method)) ?? forward(method)) as never);
    }
    if (capabilities.resources?.subscribe) {
      server.setRequestHandler('resources/subscribe', forward('resources/subscribe') as never);
      server.setRequestHandler('resources/unsubscribe', forward('resources/unsubscribe') as never);
    }
    return product;
  }

  /**
   * Stops taking calls, lets running ones finish for up to `graceMs` (ms, default 5_000) or until
   * `signal` aborts, then closes every upstream session and the shared connection. Idempotent.
   */
  close(options: { readonly graceMs?: number; readonly signal?: AbortSignal } = {}): Promise<void> {
    this.#closing ??= (async () => {
      await this.#runtime.close(options);
      await Promise.all([...this.#sessions].map((s) => s.close()));
      this.#sessions.clear();
      await this.#shared.close().catch(() => {});
    })();
    return this.#closing;
  }

  /** Aborts running calls and closes every upstream connection now. Idempotent. */
  async destroy(reason?: unknown): Promise<void> {
    const closing = this.close({ graceMs: 0 });
    await this.#runtime.destroy(reason);
    await closing;
  }

  /** `forward` under the method's policy (scheduler key: the method name), when one is configured. */
  #limited(method: string, forward: (request: { params?: Record<string, unknown> }, ctx: ServerContext) => Promise<unknown>) {
    const policy = this.#options.methods?.[method as LimitedMethod];
    if (policy === undefined) return undefined;
    if (!this.#runtime.has(method)) {
      this.#runtime.addTool(
        {
          name: method,
          description: `the upstream's ${method}`,
          inputSchema: { type: 'object' },
          run: async (_args: Record<string, unknown>, ctx: ToolRunContext) => {
            try {
              return await (ctx.caller as () => Promise<unknown>)();
            } catch (error) {
              const protocol = protocolErrorOf(error);
              if (protocol !== undefined) return new UpstreamProtocolError(protocol);
              throw error;
            }
          },
        },
        { maxParallel: policy.maxParallel, rateLimit: policy.rateLimit, timeoutMs: policy.timeoutMs, retry: policy.retry },
      );
    }
    return async (request: { params?: Record<string, unknown> }, ctx: ServerContext): Promise<unknown> => {
      const result = await this.#runtime.call(method, {}, { signal: ctx.mcpReq.signal, sessionId: ctx.sessionId, id: String(ctx.mcpReq.id), caller: () => forward(request, ctx) });
      if (result.value instanceof UpstreamProtocolError) throw new ProtocolError(result.value.error.code, result.value.error.message, result.value.error.data);
      if (result.status === 'ok') return result.value;
      const error = result.error ?? { code: 'tool_error', message: result.status };
      // A refusal (rate_limited, queue_full, timeout...) as a JSON-RPC error whose data carries the code.
      throw new ProtocolError(-32000, `${method} refused: ${error.message}`, { code: error.code, ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }) });
    };
  }

  async #callTool(server: Server, name: string, given: unknown, ctx: ServerContext, upstream: () => Promise<Client>, modern: boolean): Promise<CallToolResult> {
    const refused = nonObjectArguments(name, given);
    if (refused !== undefined) return refused;
    // `resources/read` and `prompts/get` under a policy are scheduler entries too; they are not tools.
    if (this.#options.methods?.[name as LimitedMethod] !== undefined) {
      return errorResult('unknown_tool', `Unknown tool "${name}": that is the proxy's entry for the ${name} method, not a tool`);
    }
    const args = given ?? {};
    const listed = this.#runtime.has(name) && !this.#unlisted.has(name);
    if (!this.#runtime.has(name)) {
      // A name the upstream did not list goes upstream all the same (it answers for its own tools), but
      // each one is a scheduler entry: a bounded number of them, or a model making names up grows the proxy.
      if (this.#unlisted.size >= MAX_UNLISTED_TOOLS) {
        return errorResult('unknown_tool', `Unknown tool "${name}": the upstream does not list it (tools/list shows the tools it has)`);
      }
      this.#unlisted.add(name);
      this.#register({ name, inputSchema: { type: 'object' } }, false);
    }
    const progress = queuedProgress(ctx, this.#runtime, this.#options.progressIntervalMs ?? 1_000);
    const caller: ProxiedCall = { upstream, ctx, progress, modern };
    const call = () =>
      this.#runtime.call(name, args, { signal: ctx.mcpReq.signal, sessionId: ctx.sessionId, id: String(ctx.mcpReq.id), onStart: progress.started, log: clientLog(ctx), caller });
    // Traced: a SERVER span whose parent is the caller's span, carried in params._meta (MCP conventions).
    const tracing = this.#runtime.tracing;
    // A name the upstream has not listed is whatever the client sent: not a span name (cardinality).
    const info = serverRequestInfo(server, ctx, 'tools/call', listed ? name : undefined);
    try {
      const result = await progress.around(tracing === undefined ? call() : tracing.mcp.server(info, ctx.mcpReq._meta, call));
      if (result.status === 'ok') {
        if (result.value instanceof UpstreamProtocolError) throw new ProtocolError(result.value.error.code, result.value.error.message, result.value.error.data);
        return result.value as CallToolResult;
      }
      const error = result.error ?? { code: 'tool_error' as const, message: result.status };
      return errorResult(error.code, error.message, error.retryAfterMs);
    } finally {
      progress.stop();
    }
  }

  /** The CLIENT span's request info for a call upstream (MCP conventions): transport, negotiated version, the server's address. */
  #upstreamInfo(client: Client, tool: string): McpRequestInfo {
    const spec = this.#options.upstream;
    const protocolVersion = client.getNegotiatedProtocolVersion();
    if (!('url' in spec)) return { method: 'tools/call', tool, protocolVersion, transport: 'pipe' };
    const url = new URL(spec.url);
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    return { method: 'tools/call', tool, protocolVersion, transport: 'tcp', serverAddress: url.hostname, serverPort: port };
  }

  async #listTools(client: Client): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor });
      page.tools.forEach((tool) => this.#register(tool));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /** Puts a tool under its rule's policy (once per name): the call goes to the caller's own upstream session. */
  #register(tool: Pick<McpTool, 'name' | 'description' | 'inputSchema' | 'annotations'>, listed = true): void {
    if (listed) {
      this.#inputSchemas.set(tool.name, tool.inputSchema as Record<string, unknown>);
      // Called before the upstream listed it, now listed: its metrics series is its own from now on.
      if (this.#unlisted.delete(tool.name)) this.#runtime.metrics?.addTool(tool.name);
    }
    if (this.#runtime.has(tool.name)) return;
    const rule = this.#matchers.find((m) => m.pattern.test(tool.name))?.rule;
    const name = tool.name;
    this.#runtime.addTool(
      {
        name,
        description: tool.description ?? name,
        inputSchema: tool.inputSchema as Record<string, unknown>,
        run: async (args: Record<string, unknown>, ctx: ToolRunContext) => {
          const call = ctx.caller as ProxiedCall;
          const client = await call.upstream();
          try {
            // The scheduler owns the deadline (the SDK's own 60 s default would cut long tools short).
            // A 2026-07-28 caller's input_required result comes back to it as it is (its retry carries the answers).
            const send = (meta: Record<string, unknown> | undefined) =>
              client.callTool(
                { name, arguments: args, ...(meta ? { _meta: meta } : {}), ...(call.modern ? retryFields(call.ctx) : {}) },
                { ...requestOptions(call.ctx, call.progress, ctx.signal), allowInputRequired: call.modern },
              );
            const own = call.ctx.mcpReq._meta ? withoutToken(call.ctx.mcpReq._meta) : undefined;
            const meta = call.modern ? { ...own, ...call.ctx.mcpReq.envelope } : own;
            // Traced: a CLIENT span whose context replaces the caller's in _meta (every other key goes along).
            const tracing = this.#runtime.tracing;
            return await (tracing === undefined ? send(meta) : tracing.mcp.client(this.#upstreamInfo(client, name), meta, send));
          } catch (error) {
            if (ctx.signal.aborted) throw ctx.signal.reason;
            const protocol = protocolErrorOf(error);
            if (protocol !== undefined) return new UpstreamProtocolError(protocol);
            throw new McpConcurrencyError('upstream_error', `Upstream call to "${name}" failed: ${describeThrown(error)}`, { cause: error, retryable: true });
          }
        },
      },
      {
        maxParallel: rule?.maxParallel,
        rateLimit: rule?.rateLimit,
        timeoutMs: rule?.timeoutMs,
        retry: rule?.retry,
        annotations: tool.annotations === undefined ? undefined : { ...tool.annotations },
        unlisted: !listed,
      },
    );
  }
}

interface ProxiedCall {
  readonly upstream: () => Promise<Client>;
  readonly ctx: ServerContext;
  readonly progress: QueuedProgress;
  /** A 2026-07-28 request to a 2026-07-28 upstream (over the shared connection, with its own request context). */
  readonly modern: boolean;
}

/**
 * A downstream server whose `tools/call` the SDK's HTTP entry checks against the upstream tool's input
 * schema (`Mcp-Param-*` headers vs `x-mcp-header` declarations, SEP-2243); every request handler is the
 * proxy's own.
 */
class ProxiedServer extends McpServer {
  readonly #schemaOf: (name: string) => Record<string, unknown> | undefined;

  constructor(identity: { name: string; version: string }, options: ConstructorParameters<typeof McpServer>[1], schemaOf: (name: string) => Record<string, unknown> | undefined) {
    super(identity, options);
    this.#schemaOf = schemaOf;
  }

  override toolInputSchemaJson(name: string): Record<string, unknown> | undefined {
    return this.#schemaOf(name);
  }
}

/** The RFC 5424 levels of `notifications/message` (MCP logging); a line at another is not relayed. */
const LOG_LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);

/** Sends an upstream log line (`notifications/message` params) to `ctx`'s caller, at `ctx`'s own level. */
function relayLine(ctx: ServerContext, params: Record<string, unknown> | undefined): void {
  const level = params?.['level'];
  if (typeof level !== 'string' || !LOG_LEVELS.has(level)) return;
  const logger = typeof params?.['logger'] === 'string' ? params['logger'] : undefined;
  void ctx.mcpReq.log(level as LoggingLevel, params?.['data'], logger).catch(() => {});
}

/**
 * A 2026-07-28 request's own context, as it goes upstream over the shared connection: its `_meta` envelope
 * (`io.modelcontextprotocol/protocolVersion`, `clientInfo`, `clientCapabilities`, `logLevel`; the SDK
 * lifts it off `_meta` before the handler runs) replaces the proxy's own, and a retry's `inputResponses`
 * and `requestState` (SEP-2322; the state opaque, sent back byte for byte) go along.
 */
function ownContext(params: Record<string, unknown> | undefined, ctx: ServerContext): Record<string, unknown> {
  const meta = params?.['_meta'];
  return { ...params, _meta: { ...(typeof meta === 'object' && meta !== null ? meta : {}), ...ctx.mcpReq.envelope }, ...retryFields(ctx) };
}

/** The multi-round-trip retry fields of a 2026-07-28 request (SEP-2322), when it carries them. */
function retryFields(ctx: ServerContext): { inputResponses?: Record<string, unknown>; requestState?: string } {
  const requestState = ctx.mcpReq.requestState<unknown>();
  return {
    ...(ctx.mcpReq.inputResponses === undefined ? {} : { inputResponses: ctx.mcpReq.inputResponses }),
    ...(typeof requestState === 'string' ? { requestState } : {}),
  };
}

/** The upstream request carries the caller's signal, and relays progress to the caller's token when it gave one. */
function requestOptions(ctx: ServerContext, progress: QueuedProgress, signal: AbortSignal = ctx.mcpReq.signal) {
  const wantsProgress = ctx.mcpReq._meta?.progressToken !== undefined;
  return {
    signal,
    timeout: 2 ** 31 - 1,
    ...(wantsProgress ? { onprogress: (p: { progress: number; total?: number; message?: string }) => progress.relay(p.progress, p.total, p.message) } : {}),
  };
}

function withoutToken(meta: Record<string, unknown>): Record<string, unknown> {
  const { progressToken: _token, ...rest } = meta;
  return rest;
}

/** The SDK sets its own progress token upstream (and relays to ours): the caller's must not go along as well. */
function withoutProgressToken(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = params?.['_meta'];
  if (params === undefined || typeof meta !== 'object' || meta === null) return params;
  return { ...params, _meta: withoutToken(meta as Record<string, unknown>) };
}

function protocolErrorOf(error: unknown): { code: number; message: string; data?: unknown } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, data, name } = error as { code?: unknown; message?: unknown; data?: unknown; name?: unknown };
  if (name !== 'ProtocolError' || typeof code !== 'number' || typeof message !== 'string') return undefined;
  // The SDK prefixes "MCP error <code>: "; the client should see the upstream's own message.
  return { code, message: message.replace(/^MCP error -?\d+: /, ''), data };
}

function asProtocolError(error: unknown): unknown {
  const protocol = protocolErrorOf(error);
  return protocol === undefined ? error : new ProtocolError(protocol.code, protocol.message, protocol.data);
}
