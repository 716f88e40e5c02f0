import {
  ConcurrencyLimiter,
  Scheduler,
  type DescribedTool,
  type Limiter,
  type SchedulerObserver,
  type Tool,
  type ToolCall,
  type ToolPolicy,
  type ToolResult,
} from '@mcp-concurrency/core-scheduler';
import { RedisTokenBucket, TokenBucket } from '@mcp-concurrency/limiter-token-bucket';
import { PrometheusMetrics } from '@mcp-concurrency/metrics-prometheus';
import { HttpPool, httpTool } from '@mcp-concurrency/pool-http';
import { PostgresPool, sqlTool } from '@mcp-concurrency/pool-postgres';
import { WorkerPool, workerTool } from '@mcp-concurrency/pool-worker';
import { httpTraceHeaders, McpTracing, sqlTraceComment, TracingObserver } from '@mcp-concurrency/tracing-opentelemetry';
import type { Tracer } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { McpConfig, RetryConfig, ToolAnnotationsConfig, ToolConfig } from './config/load.js';
import { scriptEnvironment, scriptTool } from './tools/script-tool.js';

/** What the scheduler carries for one MCP call: the arguments and who asked. */
export interface CallEnvelope {
  readonly args: unknown;
  readonly sessionId?: string;
  /** Called when the call starts running (for "queued" progress notifications). */
  readonly onStart?: () => void;
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
}

/** The tracing parts a runtime uses, when it traces. */
export interface RuntimeTracing {
  readonly observer: TracingObserver;
  readonly mcp: McpTracing;
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
  readonly #closers: (() => Promise<void>)[] = [];
  readonly #defaultLimiters: readonly string[];
  #closed = false;

  private constructor(
    readonly config: McpConfig,
    options: RuntimeOptions,
    limiters: Record<string, Limiter>,
  ) {
    this.#defaultLimiters = 'default' in config.rateLimits ? ['default'] : [];
    this.tracing =
      options.tracer === undefined ? undefined : { observer: new TracingObserver({ tracer: options.tracer }), mcp: new McpTracing({ tracer: options.tracer }) };
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
      this.metrics = new PrometheusMetrics({ registry: options.registry, labels: { service: config.name } });
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
    let http: HttpPool | undefined;
    let db: PostgresPool | undefined;
    let workers: WorkerPool | undefined;
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
            injectHeaders: runtime.tracing === undefined ? undefined : httpTraceHeaders(),
          }));
          described = httpTool(http, { ...base, method: tool.run.method, url: tool.run.url, headers: tool.run.headers, body: tool.run.body, timeoutMs: tool.timeoutMs });
          break;
        case 'sql':
          db ??= runtime.#own(new PostgresPool({
            connectionString: config.database!.url,
            max: config.database!.max,
            readOnly: config.database!.readOnly,
            applicationName: `mcp-concurrency:${config.name}`,
            sqlComment: runtime.tracing === undefined ? undefined : () => sqlTraceComment(),
          }));
          described = sqlTool(db, { ...base, sql: tool.run.query });
          break;
        case 'worker':
          // Workers see the environment scripts see: not the server's own token.
          workers ??= runtime.#own(new WorkerPool({ maxThreads: config.threadPoolSize, env: scriptEnvironment() as Record<string, string> }));
          try {
            described = await workerTool(workers, { ...base, module: tool.run.module, export: tool.run.export });
          } catch (error) {
            await runtime.close(0);
            throw error;
          }
          break;
      }
      runtime.addTool(described, tool, tool.run.kind === 'script' || tool.run.kind === 'worker' ? [THREAD_POOL] : []);
    }
    if (runtime.metrics !== undefined) {
      runtime.metrics.attach(runtime.scheduler);
      if (db !== undefined) runtime.metrics.addPool('postgres', () => ({ ...db.stats() }));
      if (workers !== undefined) runtime.metrics.addPool('worker', () => ({ ...workers.stats() }));
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
    tool: DescribedTool<Record<string, unknown>, unknown> | { name: string; description: string; inputSchema: Record<string, unknown>; run: DescribedTool['run'] },
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
    const registered: Tool<CallEnvelope> = {
      name: tool.name,
      run: (envelope, ctx) => {
        envelope.onStart?.();
        return tool.run(envelope.args as Record<string, unknown>, ctx);
      },
    };
    // Traced, the tool runs inside its call's span: HTTP headers, SQL comments and upstream _meta carry it.
    this.scheduler.register(this.tracing === undefined ? registered : this.tracing.observer.wrap(registered), toolPolicy);
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
  call(name: string, args: unknown, options: { signal?: AbortSignal; sessionId?: string; id?: string; onStart?: () => void } = {}): Promise<ToolResult> {
    const envelope: CallEnvelope = { args, sessionId: options.sessionId, onStart: options.onStart };
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

  /** Lets running calls finish (up to `graceMs`), then closes pools and Redis. Idempotent. */
  async close(graceMs = 5_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.scheduler.close({ graceMs });
    await this.tracing?.observer.destroy();
    await Promise.all(this.#closers.map((c) => c().catch(() => {})));
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

