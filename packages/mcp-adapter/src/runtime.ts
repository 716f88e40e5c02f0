import {
  ConcurrencyLimiter,
  McpConcurrencyError,
  Scheduler,
  type Limiter,
  type SchedulerObserver,
  type Tool,
  type ToolCall,
  type ToolContext,
  type ToolPolicy,
  type ToolResult,
} from '@mcp-concurrency/core-scheduler';
import { checkArguments, type DescribedTool, type ParameterSpec } from '@mcp-concurrency/core-scheduler/plugin';
import { RedisTokenBucket, TokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { PrometheusMetrics } from '@mcp-concurrency/metrics-prometheus';
import { HttpClient, httpTool, OriginLimits, throttleOnRetryAfter } from '@mcp-concurrency/pool-http';
import { PostgresPool, sqlTool } from '@mcp-concurrency/pool-postgres';
import { WorkerPool, workerTool } from '@mcp-concurrency/pool-worker';
import { httpTraceHeaders, McpTracing, sqlTraceComment, TracingObserver } from '@mcp-concurrency/tracing-opentelemetry';
import { trace, type Meter, type Tracer } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { McpConfig, RetryConfig, ToolAnnotationsConfig, ToolConfig } from './config/load.js';
import { scriptEnvironment, scriptTool } from './tools/script-tool.js';

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

/**
 * A tool's {@link ToolRunContext}: the scheduler's context read through, so `signal` is only made
 * when a tool reads it (the scheduler creates a call's AbortController lazily; a tool that never
 * looks at its signal costs none).
 */
class RunContext implements ToolRunContext {
  readonly #ctx: ToolContext;
  readonly #envelope: CallEnvelope;

  constructor(ctx: ToolContext, envelope: CallEnvelope) {
    this.#ctx = ctx;
    this.#envelope = envelope;
  }

  get signal(): AbortSignal {
    return this.#ctx.signal;
  }

  get attempt(): number {
    return this.#ctx.attempt;
  }

  get callId(): string {
    return this.#ctx.callId;
  }

  get log(): ToolLog {
    return this.#envelope.log ?? noLog;
  }

  get caller(): unknown {
    return this.#envelope.caller;
  }
}

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
  /**
   * Traces with this tracer (OpenTelemetry): a span per call with the scheduler's detail, MCP server
   * and client spans with trace context in `_meta`, W3C headers on HTTP tools' requests and a
   * sqlcommenter comment on SQL tools' statements. Needs a registered context manager (see
   * `tracingFromEnv` of tracing-opentelemetry/sdk). @default no tracing
   */
  readonly tracer?: Tracer;
  /**
   * Records the MCP conventions' `mcp.server.operation.duration` and `mcp.client.operation.duration`
   * histograms (seconds) with this meter (OpenTelemetry metrics API; see `metricsFromEnv` of
   * tracing-opentelemetry/sdk), with or without a `tracer`. @default no OpenTelemetry metrics
   */
  readonly meter?: Meter;
}

/** The tracing parts a runtime uses, when it traces. */
export interface RuntimeTracing {
  readonly observer: TracingObserver;
  readonly mcp: McpTracing;
  /** False when only metrics are on: HTTP and SQL tools then carry no trace context. */
  readonly traces: boolean;
}

const THREAD_POOL = 'thread_pool';

/**
 * The policy engine behind the configured server and the proxy: one scheduler with the config's
 * global, per-tool, per-session and per-resource limits, its rate limiters (in process, or shared on
 * Redis with `redis_url`) and `thread_pool_size`: one limit that script processes and worker-thread
 * calls share (both are work off the event loop, on the same cores), and the worker pool's size.
 */
export class ToolRuntime {
  readonly scheduler: Scheduler;
  readonly metrics: PrometheusMetrics | undefined;
  readonly tracing: RuntimeTracing | undefined;
  readonly #served = new Map<string, ServedTool>();
  readonly #resourceArgument = new Map<string, string>();
  /** Declared parameters per tool, checked before a call is scheduled. */
  readonly #parameters = new Map<string, Readonly<Record<string, ParameterSpec>>>();
  readonly #closers: (() => Promise<void>)[] = [];
  readonly #defaultLimiters: readonly string[];
  /** Per tool: the whole call's deadline in ms (queue wait, attempts, retry waits). */
  readonly #deadlines = new Map<string, number>();
  #closing: Promise<void> | undefined;

  private constructor(
    readonly config: McpConfig,
    options: RuntimeOptions,
    limiters: Record<string, Limiter>,
  ) {
    this.#defaultLimiters = 'default' in config.rateLimits ? ['default'] : [];
    // Metrics without traces: the API's tracer (no-op without a registered provider) carries nothing and costs little.
    const tracer = options.tracer ?? (options.meter === undefined ? undefined : trace.getTracer('@mcp-concurrency/mcp-adapter'));
    this.tracing =
      tracer === undefined
        ? undefined
        : { observer: new TracingObserver({ tracer }), mcp: new McpTracing({ tracer, ...(options.meter === undefined ? {} : { meter: options.meter }) }), traces: options.tracer !== undefined };
    this.scheduler = new Scheduler({
      maxParallel: config.maxParallel,
      maxQueued: config.maxQueued,
      timeoutMs: config.timeoutMs,
      queueTimeoutMs: config.queueTimeoutMs,
      limiters,
      observers: this.tracing === undefined ? options.observers : [...(options.observers ?? []), this.tracing.observer],
      key: (call) => this.#keyOf(call),
      maxPerKey: (key) => (key.startsWith('resource:') ? 1 : config.maxPerSession ?? Infinity),
    });
    if (options.registry !== undefined) {
      this.metrics = new PrometheusMetrics({ registry: options.registry, labels: { service: config.name }, processMetrics: config.processMetrics });
    }
  }

  /**
   * Builds the limiters and, for a served config, its tools (script, http, sql, worker). A worker
   * tool's module is loaded in a worker here: a missing module or export is a `config_error` now.
   */
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
    let http: { client: HttpClient; limits: OriginLimits } | undefined;
    let db: PostgresPool | undefined;
    let workers: WorkerPool | undefined;
    for (const tool of config.tools) {
      let described: DescribedTool<Record<string, unknown>, unknown>;
      let extraLimiters: readonly string[] = [];
      const base = { name: tool.name, description: tool.description, parameters: tool.parameters };
      switch (tool.run.kind) {
        case 'script':
          described = scriptTool({ ...base, ...tool.run, maxOutputBytes: config.maxOutputBytes });
          extraLimiters = [THREAD_POOL];
          break;
        case 'http': {
          // One attempt per call on the client; the runtime's scheduler owns the deadline, the
          // retries and every limit, the origin's cap included.
          http ??= {
            client: runtime.#own(new HttpClient({
              allowOrigins: config.http.allowOrigins,
              allowPrivateNetwork: config.http.allowPrivateNetwork,
              maxBodyBytes: config.http.maxBodyBytes,
              injectHeaders: runtime.tracing?.traces === true ? httpTraceHeaders() : undefined,
            })),
            limits: new OriginLimits(),
          };
          const built = httpTool(http.client, { ...base, method: tool.run.method, url: tool.run.url, headers: tool.run.headers, body: tool.run.body }, { limits: http.limits });
          for (const [name, limiter] of built.limiters) runtime.scheduler.setLimiter(name, limiter);
          extraLimiters = built.limiters.map(([name]) => name);
          // What a model reads: the status and the body, not the headers.
          described = {
            ...built,
            run: async (params, ctx) => {
              const { status, body } = await built.run(params, ctx);
              return { status, body };
            },
          };
          break;
        }
        case 'sql':
          db ??= runtime.#own(new PostgresPool({
            connectionString: config.database!.url,
            max: config.database!.max,
            readOnly: config.database!.readOnly,
            applicationName: `mcp-concurrency:${config.name}`,
            sqlComment: runtime.tracing?.traces === true ? () => sqlTraceComment() : undefined,
          }));
          described = sqlTool(db, { ...base, sql: tool.run.query });
          break;
        case 'worker':
          // Workers see the environment scripts see: not the server's own token.
          workers ??= runtime.#own(new WorkerPool({ maxThreads: config.threadPoolSize, env: scriptEnvironment() as Record<string, string> }));
          try {
            described = await workerTool(workers, { ...base, module: tool.run.module, export: tool.run.export });
            extraLimiters = [THREAD_POOL]; // worker calls and script processes share thread_pool_size
          } catch (error) {
            await runtime.close({ graceMs: 0 });
            throw error;
          }
          break;
      }
      runtime.addTool(tool.run.kind === 'script' ? described : withEvents(described, tool.run.kind), tool, extraLimiters);
    }
    if (runtime.metrics !== undefined) {
      runtime.metrics.attach(runtime.scheduler);
      if (db !== undefined) runtime.metrics.addPool('postgres', () => ({ ...db.stats() }));
      if (workers !== undefined) runtime.metrics.addPool('worker', () => ({ ...workers.stats() }));
      if (http !== undefined) {
        runtime.metrics.addPool('http', () => {
          const totals = { connected: 0, free: 0, pending: 0, queued: 0, running: 0, size: 0 };
          for (const s of Object.values(http.client.stats)) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += s[k];
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
    policy: Pick<ToolConfig, 'maxParallel' | 'rateLimit' | 'timeoutMs' | 'retry' | 'annotations'> & {
      readonly parameters?: ToolConfig['parameters'];
      /** A name a caller sent rather than one the config or an upstream listed: metrics count it as `other` (bounded labels). */
      readonly unlisted?: boolean;
    },
    extraLimiters: readonly string[] = [],
  ): void {
    const annotations = policy.annotations;
    const retry = annotations?.idempotentHint === true ? retryPolicy(policy.retry) : undefined;
    const limiters = [...this.#defaultLimiters, ...(policy.rateLimit ? [policy.rateLimit] : []), ...extraLimiters];
    const toolPolicy: ToolPolicy = { maxParallel: policy.maxParallel, limiters, timeoutMs: policy.timeoutMs, retry };
    const deadline = policy.timeoutMs ?? this.config.timeoutMs;
    if (deadline === undefined) this.#deadlines.delete(tool.name);
    else this.#deadlines.set(tool.name, deadline);
    const run = (envelope: CallEnvelope, ctx: ToolContext): unknown => {
      envelope.onStart?.();
      return tool.run(envelope.args as Record<string, unknown>, new RunContext(ctx, envelope));
    };
    // A 429 or 503 with Retry-After slows every rate limiter the call holds (on Redis too) before a retry;
    // a tool that holds none needs no wrapper (one promise less per call).
    const registered: Tool<CallEnvelope> = {
      name: tool.name,
      run: limiters.length === 0 ? run : throttleOnRetryAfter(run, () => limiters.map((name) => this.scheduler.limiters.get(name))),
    };
    // Traced, the tool runs inside its call's span: HTTP headers, SQL comments and upstream _meta carry it.
    this.scheduler.register(this.tracing === undefined ? registered : this.tracing.observer.wrap(registered), toolPolicy);
    if (policy.unlisted !== true) this.metrics?.addTool(tool.name);
    if (annotations?.destructiveHint && annotations.resourceArgument) this.#resourceArgument.set(tool.name, annotations.resourceArgument);
    if (policy.parameters !== undefined) this.#parameters.set(tool.name, policy.parameters);
    const { resourceArgument: _omit, ...listed } = annotations ?? {};
    this.#served.set(tool.name, {
      name: tool.name,
      description: tool.description,
      inputSchema: tool.inputSchema as unknown as Record<string, unknown>,
      annotations: annotations === undefined ? undefined : listed,
    });
  }

  /**
   * One call through every limit. Never rejects. Arguments that do not match the tool's declared
   * parameters are refused before the call takes anything (no slot, no rate token): the result is an
   * `error` with code `invalid_params`, reported to the observers like any other. The tool's `timeout`
   * is one deadline for the whole call: queue wait, every attempt and the waits between retries
   * (`Retry-After` included); when it passes, the call settles as `timeout` and its work is aborted.
   */
  call(
    name: string,
    args: unknown,
    options: { signal?: AbortSignal; sessionId?: string; id?: string; onStart?: () => void; log?: ToolLog; caller?: unknown } = {},
  ): Promise<ToolResult> {
    const envelope: CallEnvelope = { args, sessionId: options.sessionId, onStart: options.onStart, log: options.log, caller: options.caller };
    try {
      this.#checkArguments(name, args);
    } catch (error) {
      // A graph of one settles a call without running it, through the scheduler's observers.
      const refused: ToolCall = { id: options.id, tool: name, params: envelope, paramsFrom: () => { throw error; } };
      return this.scheduler.runGraph([refused]).then((results) => results[0]!);
    }
    const timeoutMs = this.#deadlines.get(name);
    // Not async: the common call (no deadline) is the scheduler's own promise, no wrapper around it.
    if (timeoutMs === undefined || timeoutMs === Infinity) return this.scheduler.run({ id: options.id, tool: name, params: envelope }, { signal: options.signal });
    return this.#callWithin(name, timeoutMs, envelope, options);
  }

  /** A call under its tool's whole-call deadline (`timeoutMs`, ms): queue wait, attempts and retry waits. */
  async #callWithin(name: string, timeoutMs: number, envelope: CallEnvelope, options: { signal?: AbortSignal; id?: string }): Promise<ToolResult> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new McpConcurrencyError('timeout', `"${name}" did not complete within ${timeoutMs} ms (queue wait, attempts and retry waits included)`)),
      timeoutMs,
    );
    const signal = options.signal === undefined ? deadline.signal : AbortSignal.any([options.signal, deadline.signal]);
    try {
      // The call's deadline replaces the per-attempt one: one timer per call.
      return await this.scheduler.run({ id: options.id, tool: name, params: envelope, timeoutMs: Infinity }, { signal });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Many calls, with `dependsOn`, as a graph; one result each, in order. Each call's arguments (given,
   * or made from its dependencies' values) are checked when it is submitted, before it takes anything.
   */
  graph(calls: readonly ToolCall[], options: { signal?: AbortSignal; sessionId?: string } = {}): Promise<ToolResult[]> {
    return this.scheduler.runGraph(
      calls.map((c) => ({
        ...c,
        params: { args: c.params, sessionId: options.sessionId } satisfies CallEnvelope,
        paramsFrom: (deps) => {
          const args = c.paramsFrom === undefined ? c.params : c.paramsFrom(deps);
          this.#checkArguments(c.tool, args);
          return { args, sessionId: options.sessionId } satisfies CallEnvelope;
        },
      })),
      { signal: options.signal },
    );
  }

  /** Throws `invalid_params` when a configured tool's arguments do not match its parameters. */
  #checkArguments(tool: string, args: unknown): void {
    const parameters = this.#parameters.get(tool);
    if (parameters !== undefined) checkArguments(parameters, args);
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
        .then(() => this.tracing?.observer.destroy())
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
 * An http, sql or worker tool that tells the calling client what it does: `debug` when it starts, `info` when it
 * answers (with the time taken, in ms), `error` when it fails (the coded error). Never the URL's path or
 * query, the SQL text or the arguments: they may hold secrets.
 */
function withEvents(tool: DescribedTool<Record<string, unknown>, unknown>, kind: 'http' | 'sql' | 'worker'): DescribedTool<Record<string, unknown>, unknown> {
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
