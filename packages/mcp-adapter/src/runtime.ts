import {
  ConcurrencyLimiter,
  Scheduler,
  type DescribedTool,
  type Limiter,
  type SchedulerObserver,
  type ToolCall,
  type ToolContext,
  type ToolPolicy,
  type ToolResult,
} from '@mcp-concurrency/core-scheduler';
import { RedisTokenBucket, TokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { PrometheusMetrics } from '@mcp-concurrency/metrics-prometheus';
import { HttpPool, httpTool } from '@mcp-concurrency/pool-http';
import { PostgresPool, sqlTool } from '@mcp-concurrency/pool-postgres';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { McpConfig, RetryConfig, ToolAnnotationsConfig, ToolConfig } from './config/load.js';
import { scriptTool } from './tools/script-tool.js';

/** MCP log levels (RFC 5424 severities), lowest first. */
export type ToolLogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

/**
 * Where a tool's log lines go: the calling client, as `notifications/message` filtered at that client's
 * level. Never throws; a line the client does not want is dropped.
 */
export type ToolLog = (level: ToolLogLevel, data: unknown, logger?: string) => void;

/** What a tool's `run` gets beside its arguments: the scheduler's context and, for MCP calls, the caller's log. */
export interface ToolRunContext extends ToolContext {
  /** The calling client's log (a no-op outside MCP). */
  readonly log: ToolLog;
  /** What the caller attached to the call (the proxy's upstream session). */
  readonly caller?: unknown;
}

/** What the scheduler carries for one MCP call: the arguments and who asked. */
export interface CallEnvelope {
  readonly args: unknown;
  readonly sessionId?: string;
  /** Called when the call starts running (for "queued" progress notifications). */
  readonly onStart?: () => void;
  readonly log?: ToolLog;
  readonly caller?: unknown;
}

/** Options of {@link ToolRuntime.close}: the shared lifecycle contract. */
export interface CloseOptions {
  /** How long running calls may go on, in ms, before they are aborted (settling `cancelled`). @default 5_000 */
  readonly graceMs?: number;
  /** Aborting it ends the grace period at once. */
  readonly signal?: AbortSignal;
}

const noLog: ToolLog = () => {};

/** A tool as the MCP server lists it. */
export interface ServedTool {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: Record<string, unknown>;
  readonly annotations?: Omit<ToolAnnotationsConfig, 'resourceArgument'>;
}

export interface RuntimeOptions {
  /** Where metrics go; with it, /metrics can be served. */
  readonly registry?: Registry;
  readonly observers?: readonly SchedulerObserver[];
}

const THREAD_POOL = 'thread_pool';

/**
 * The policy engine behind the configured server and the proxy: one scheduler with the config's
 * global, per-tool, per-session and per-resource limits, its rate limiters (in process, or shared on
 * Redis with `redis_url`) and `thread_pool_size` for scripts.
 */
export class ToolRuntime {
  readonly scheduler: Scheduler;
  readonly metrics: PrometheusMetrics | undefined;
  readonly #served = new Map<string, ServedTool>();
  readonly #resourceArgument = new Map<string, string>();
  readonly #closers: (() => Promise<void>)[] = [];
  readonly #defaultLimiters: readonly string[];
  #closing: Promise<void> | undefined;

  private constructor(
    readonly config: McpConfig,
    options: RuntimeOptions,
    limiters: Record<string, Limiter>,
  ) {
    this.#defaultLimiters = 'default' in config.rateLimits ? ['default'] : [];
    this.scheduler = new Scheduler({
      maxParallel: config.maxParallel,
      maxQueued: config.maxQueued,
      timeoutMs: config.timeoutMs,
      queueTimeoutMs: config.queueTimeoutMs,
      limiters,
      observers: options.observers,
      key: (call) => this.#keyOf(call),
      maxPerKey: (key) => (key.startsWith('resource:') ? 1 : config.maxPerSession ?? Infinity),
    });
    if (options.registry !== undefined) {
      this.metrics = new PrometheusMetrics({ registry: options.registry, labels: { service: config.name } });
    }
  }

  /** Builds the limiters and, for a served config, its tools (script, http, sql). */
  static async create(config: McpConfig, options: RuntimeOptions = {}): Promise<ToolRuntime> {
    const limiters: Record<string, Limiter> = { [THREAD_POOL]: new ConcurrencyLimiter(config.threadPoolSize) };
    const closers: (() => Promise<void>)[] = [];
    if (config.redisUrl !== undefined) {
      const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
      redis.on('error', () => {
        // Reconnects on its own; each limiter's policy decides meanwhile.
      });
      closers.push(async () => void redis.disconnect());
      for (const [name, limit] of Object.entries(config.rateLimits)) {
        limiters[name] = new RedisTokenBucket({
          redis,
          buckets: [{ key: `${config.name}:${name}`, rate: limit.rate, burst: limit.burst }],
          onUnavailable: 'local',
        });
      }
    } else {
      for (const [name, limit] of Object.entries(config.rateLimits)) limiters[name] = new TokenBucket({ rate: limit.rate, burst: limit.burst });
    }
    const runtime = new ToolRuntime(config, options, limiters);
    runtime.#closers.push(...closers);
    let http: HttpPool | undefined;
    let db: PostgresPool | undefined;
    for (const tool of config.tools) {
      let described: DescribedTool<Record<string, unknown>, unknown>;
      const base = { name: tool.name, description: tool.description, parameters: tool.parameters };
      switch (tool.run.kind) {
        case 'script':
          described = scriptTool({ ...base, ...tool.run, maxOutputBytes: config.maxOutputBytes });
          break;
        case 'http':
          http ??= runtime.#own(new HttpPool({
            allowOrigins: config.http.allowOrigins,
            allowPrivateNetwork: config.http.allowPrivateNetwork,
            maxBodyBytes: config.http.maxBodyBytes,
            maxParallel: config.maxParallel,
            retry: 0, // retries are the tool policy's, for idempotent tools only
          }));
          described = httpTool(http, { ...base, method: tool.run.method, url: tool.run.url, headers: tool.run.headers, body: tool.run.body, timeoutMs: tool.timeoutMs });
          break;
        case 'sql':
          db ??= runtime.#own(new PostgresPool({
            connectionString: config.database!.url,
            max: config.database!.max,
            readOnly: config.database!.readOnly,
            applicationName: `mcp-concurrency:${config.name}`,
          }));
          described = sqlTool(db, { ...base, sql: tool.run.query });
          break;
      }
      runtime.addTool(tool.run.kind === 'script' ? described : withEvents(described, tool.run.kind), tool, tool.run.kind === 'script' ? [THREAD_POOL] : []);
    }
    if (runtime.metrics !== undefined) {
      runtime.metrics.attach(runtime.scheduler);
      if (db !== undefined) runtime.metrics.addPool('postgres', () => ({ ...db.stats() }));
      if (http !== undefined) {
        runtime.metrics.addPool('http', () => {
          const totals = { connected: 0, free: 0, pending: 0, queued: 0, running: 0, size: 0 };
          for (const s of Object.values(http.stats().origins)) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += s[k];
          return totals;
        });
      }
    }
    return runtime;
  }

  /** The tools to list, in registration order. */
  get tools(): ServedTool[] {
    return [...this.#served.values()];
  }

  has(name: string): boolean {
    return this.#served.has(name);
  }

  /** Registers a tool under the config's policy for it (or a proxy rule's). */
  addTool(
    tool:
      | DescribedTool<Record<string, unknown>, unknown>
      | { name: string; description: string; inputSchema: Record<string, unknown>; run: (args: Record<string, unknown>, ctx: ToolRunContext) => unknown },
    policy: Pick<ToolConfig, 'maxParallel' | 'rateLimit' | 'timeoutMs' | 'retry' | 'annotations'>,
    extraLimiters: readonly string[] = [],
  ): void {
    const annotations = policy.annotations;
    const retry = annotations?.idempotentHint === true ? retryPolicy(policy.retry) : undefined;
    const toolPolicy: ToolPolicy = {
      maxParallel: policy.maxParallel,
      limiters: [...this.#defaultLimiters, ...(policy.rateLimit ? [policy.rateLimit] : []), ...extraLimiters],
      timeoutMs: policy.timeoutMs,
      retry,
    };
    this.scheduler.register(
      {
        name: tool.name,
        run: (envelope: CallEnvelope, ctx) => {
          envelope.onStart?.();
          const runContext: ToolRunContext = { signal: ctx.signal, attempt: ctx.attempt, callId: ctx.callId, log: envelope.log ?? noLog, caller: envelope.caller };
          return tool.run(envelope.args as Record<string, unknown>, runContext);
        },
      },
      toolPolicy,
    );
    if (annotations?.destructiveHint && annotations.resourceArgument) this.#resourceArgument.set(tool.name, annotations.resourceArgument);
    const { resourceArgument: _omit, ...listed } = annotations ?? {};
    this.#served.set(tool.name, {
      name: tool.name,
      description: tool.description,
      inputSchema: tool.inputSchema as unknown as Record<string, unknown>,
      annotations: annotations === undefined ? undefined : listed,
    });
  }

  /** One call through every limit. Never rejects. */
  call(
    name: string,
    args: unknown,
    options: { signal?: AbortSignal; sessionId?: string; id?: string; onStart?: () => void; log?: ToolLog; caller?: unknown } = {},
  ): Promise<ToolResult> {
    const envelope: CallEnvelope = { args, sessionId: options.sessionId, onStart: options.onStart, log: options.log, caller: options.caller };
    return this.scheduler.run({ id: options.id, tool: name, params: envelope }, { signal: options.signal });
  }

  /** Many calls, with `dependsOn`, as a graph; one result each, in order. */
  graph(calls: readonly ToolCall[], options: { signal?: AbortSignal; sessionId?: string } = {}): Promise<ToolResult[]> {
    return this.scheduler.runGraph(
      calls.map((c) => ({
        ...c,
        params: { args: c.params, sessionId: options.sessionId } satisfies CallEnvelope,
        paramsFrom: c.paramsFrom === undefined ? undefined : (deps) => ({ args: c.paramsFrom!(deps), sessionId: options.sessionId }),
      })),
      { signal: options.signal },
    );
  }

  /**
   * Stops taking calls (later ones settle `rejected`, code `closed`), lets running calls finish for up to
   * `graceMs` (or until `signal` aborts), aborts what is left, then closes pools and Redis. Idempotent;
   * resolves when every call has its result and every resource is closed.
   */
  close(options: CloseOptions | number = {}): Promise<void> {
    const { graceMs = 5_000, signal } = typeof options === 'number' ? { graceMs: options } : options;
    if (this.#closing === undefined) {
      const stop = (): void => void this.scheduler.destroy(signal?.reason);
      signal?.addEventListener('abort', stop, { once: true });
      if (signal?.aborted) stop();
      this.#closing = this.scheduler
        .close({ graceMs })
        .then(() => Promise.all(this.#closers.map((c) => c().catch(() => {}))))
        .then(() => signal?.removeEventListener('abort', stop));
    }
    return this.#closing!;
  }

  /** Stops now: running calls are aborted (settling `cancelled`), then resources are closed. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    const closing = this.close({ graceMs: 0 });
    void this.scheduler.destroy(reason);
    return closing;
  }

  /** True once `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  #own<T extends { close(): Promise<void> }>(resource: T): T {
    this.#closers.push(() => resource.close());
    return resource;
  }

  #keyOf(call: ToolCall): string | undefined {
    const envelope = call.params as CallEnvelope | undefined;
    const resourceArgument = this.#resourceArgument.get(call.tool);
    if (resourceArgument !== undefined) {
      const value = (envelope?.args as Record<string, unknown> | undefined)?.[resourceArgument];
      if (value !== undefined) return `resource:${call.tool}:${typeof value === 'string' ? value : JSON.stringify(value)}`;
    }
    if (this.config.maxPerSession !== undefined && envelope?.sessionId !== undefined) return `session:${envelope.sessionId}`;
    return undefined;
  }
}

function retryPolicy(retry: RetryConfig | undefined): ToolPolicy['retry'] {
  if (retry === undefined) return 2;
  return { retries: retry.retries, minDelayMs: retry.minDelayMs, maxDelayMs: retry.maxDelayMs, factor: retry.factor };
}


/**
 * An http or sql tool that tells the calling client what it does: `debug` when it starts, `info` when it
 * answers (with the time taken, in ms), `error` when it fails (the coded error). Never the URL's path or
 * query, the SQL text or the arguments: they may hold secrets.
 */
function withEvents(tool: DescribedTool<Record<string, unknown>, unknown>, kind: 'http' | 'sql'): DescribedTool<Record<string, unknown>, unknown> {
  return {
    ...tool,
    run: async (args: Record<string, unknown>, ctx: ToolContext & { readonly log?: ToolLog }) => {
      const log = ctx.log ?? noLog;
      const started = performance.now();
      log('debug', `${kind} ${tool.name}: started (attempt ${ctx.attempt})`, tool.name);
      try {
        const value = await tool.run(args, ctx);
        log('info', `${kind} ${tool.name}: done in ${Math.round(performance.now() - started)} ms`, tool.name);
        return value;
      } catch (error) {
        const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : 'error';
        log('error', `${kind} ${tool.name}: failed (${code}) after ${Math.round(performance.now() - started)} ms`, tool.name);
        throw error;
      }
    },
  };
}
