/** `Scheduler`: the public class. Its methods check their arguments and hand over to the dispatcher and its helpers. */
import { runBatch, runGraph, runOne } from './batch.js';
import { cancelRunning, cancelWaiting } from './cancel.js';
import { Dispatcher } from './dispatcher.js';
import { McpConcurrencyError } from './errors.js';
import { addFunction, functionTool, wrapFunction, type QueuedFunction } from './function-api.js';
import { checkMaxPerKey, KeyGates, keyRequired } from './key-gates.js';
import { composeObservers } from './observer.js';
import { resolveOptions, type AddOptions, type RunOptions, type SchedulerOptions, type WrapPolicy } from './options.js';
import { LifecycleState } from './lifecycle.js';
import { isCoded } from './outcome.js';
import { TickClock } from './tick-clock.js';
import { ToolState } from './tool-state.js';
import type { CloseOptions, Lifecycle, Limiter, SchedulerObserver, Tool, ToolCall, ToolPolicy, ToolResult } from './types.js';
import { checkFunction, checkNonEmptyString, checkPositiveInteger, invalidArgument } from './validate.js';

/**
 * Runs tool calls, and plain functions, under a global cap, per-tool and per-key caps and named
 * limiters, with priorities, deadlines, retries, cancellation and dependency graphs. Every call yields
 * exactly one `ToolResult`; `run()` and `runBatch()` never reject for a call's failure.
 *
 * @example
 * const scheduler = new Scheduler({ maxParallel: 10, tools: [fetchTool] });
 * const results = await scheduler.runBatch(calls);
 * const value = await scheduler.add(({ signal }) => fetch(url, { signal }));
 */
export class Scheduler implements Lifecycle {
  readonly #core: Dispatcher;
  readonly #policies = new Map<string, ToolPolicy>();
  /** The policy each name was last registered with (`register(tool, policy)`): a replacement without one keeps it. */
  readonly #registered = new Map<string, ToolPolicy>();
  readonly #functions: ToolState;
  readonly #lifecycle: LifecycleState;
  #observers: SchedulerObserver[];

  /**
   * @throws McpConcurrencyError `invalid_argument` naming the option, what was expected and what came; an
   * unknown option too, with what to use instead for p-queue, p-limit and Bottleneck names (`concurrency` is `maxParallel`).
   */
  constructor(options: SchedulerOptions = {}) {
    const resolved = resolveOptions(options);
    this.#core = new Dispatcher({
      ...resolved,
      time: new TickClock(resolved.clock),
      keys: resolved.key === undefined ? undefined : new KeyGates(resolved.key, resolved.maxPerKey),
    });
    this.#observers = resolved.observers;
    this.#core.observer = composeObservers(this.#observers);
    this.#functions = functionTool();
    const core = this.#core;
    this.#lifecycle = new LifecycleState({
      stop: () => {
        core.closed = true;
        cancelWaiting(core, new McpConcurrencyError('closed', 'The scheduler was closed before this call started'));
      },
      idle: () => core.events.onIdle(core.isIdle()),
      abort: (reason) => {
        const error = isCoded(reason)
          ? reason
          : new McpConcurrencyError('closed', 'The scheduler was closed while this call ran', { cause: reason });
        cancelRunning(core, error);
      },
    });
    for (const [name, limiter] of Object.entries(options.limiters ?? {})) this.setLimiter(name, limiter);
    for (const [name, policy] of Object.entries(options.policies ?? {})) this.#policies.set(name, policy);
    for (const tool of options.tools ?? []) this.register(tool);
  }

  /** Calls holding a slot now (a call whose result went out on timeout keeps its slot until its tool returns). */
  get running(): number {
    return this.#core.running;
  }
  /** Calls waiting for a slot or a limiter now (p-queue's `size`). */
  get queued(): number {
    return this.#core.queued;
  }
  /** Calls submitted whose result has not gone out yet. */
  get pending(): number {
    return this.#core.unsettled;
  }
  get maxParallel(): number {
    return this.#core.maxParallel;
  }
  get closed(): boolean {
    return this.#core.closed;
  }
  /** True between `pause()` and `resume()`. */
  get paused(): boolean {
    return this.#core.paused;
  }
  /** The names of the registered tools. */
  get toolNames(): string[] {
    return [...this.#core.tools.keys()];
  }
  /** The named limiters, for observers that read their state (tokens available). */
  get limiters(): ReadonlyMap<string, Limiter> {
    return this.#core.limiters;
  }

  /** Per tool: calls holding a slot and calls waiting (for a slot or a limiter). Cheap enough for every scrape. */
  toolStats(): Record<string, { running: number; queued: number }> {
    const stats: Record<string, { running: number; queued: number }> = {};
    for (const [name, tool] of this.#core.tools) stats[name] = { running: tool.running, queued: 0 };
    for (const lane of this.#core.active) {
      const entry = stats[lane.tool.name];
      if (entry === undefined || this.#core.tools.get(lane.tool.name) !== lane.tool) continue;
      entry.queued += lane.size + (lane.acquiring === undefined ? 0 : 1) + (lane.ready === undefined ? 0 : 1);
    }
    return stats;
  }

  /**
   * Adds a tool, or replaces the one of the same name: calls running go on with the tool they started with,
   * calls not started yet run the new one, and the tool's limits and counts stay one. Without a `policy`,
   * a replacement keeps the one the name was last registered with. @throws `invalid_argument`
   */
  register(tool: Tool, policy?: ToolPolicy): this {
    if (typeof tool !== 'object' || tool === null) throw invalidArgument('tool', 'a tool object', tool);
    let name: unknown;
    let run: unknown;
    let own: ToolPolicy | undefined;
    try {
      ({ name, run, policy: own } = tool);
    } catch {
      throw invalidArgument('tool', 'a tool whose fields can be read', tool);
    }
    checkNonEmptyString('tool.name', name);
    checkFunction(`tool.run (of "${name as string}")`, run);
    const given = policy ?? this.#registered.get(name as string);
    const resolved = { ...own, ...this.#policies.get(name as string), ...given };
    const existing = this.#core.tools.get(name as string);
    if (existing !== undefined) {
      existing.apply(resolved);
      existing.tool = tool;
    } else this.#core.tools.set(name as string, new ToolState(tool, resolved, name as string));
    if (given !== undefined) this.#registered.set(name as string, given);
    this.#core.dispatch();
    return this;
  }

  /** Changes a tool's limits at run time; calls already running keep going. @throws `invalid_argument` */
  setToolPolicy(name: string, policy: ToolPolicy): void {
    const state = this.#core.tools.get(name);
    const merged = { ...this.#policies.get(name), ...policy };
    if (state !== undefined) state.apply({ ...state.tool.policy, ...merged });
    this.#policies.set(name, merged);
    this.#core.dispatch();
  }

  /** @throws `invalid_argument` unless an integer >= 1 or Infinity. */
  setMaxParallel(maxParallel: number): void {
    this.#core.maxParallel = checkPositiveInteger('maxParallel', maxParallel, true);
    this.#core.dispatch();
  }

  /** @throws `invalid_argument` when the scheduler has no `key` function, or for a bad limit. */
  setMaxPerKey(maxPerKey: number | ((key: string) => number)): void {
    const keys = this.#core.keys;
    if (keys === undefined) throw keyRequired(undefined);
    keys.setMaxPerKey(checkMaxPerKey(maxPerKey));
    this.#core.dispatch();
  }

  /** Adds or replaces a named limiter. @throws `invalid_argument` */
  setLimiter(name: string, limiter: Limiter): void {
    checkNonEmptyString('limiter name', name);
    if (typeof limiter !== 'object' || limiter === null || typeof limiter.acquire !== 'function') {
      throw invalidArgument(`limiters.${name}`, 'a Limiter (an object with acquire())', limiter);
    }
    this.#core.limiters.set(name, limiter);
  }

  /** Attaches an observer; returns the function that detaches it. */
  addObserver(observer: SchedulerObserver): () => void {
    if (typeof observer !== 'object' || observer === null) throw invalidArgument('observer', 'an observer object', observer);
    this.#observers.push(observer);
    this.#core.observer = composeObservers(this.#observers);
    return () => {
      this.#observers = this.#observers.filter((o) => o !== observer);
      this.#core.observer = composeObservers(this.#observers);
    };
  }

  /** Runs one call. Resolves with its result; never rejects. */
  run<R = unknown>(call: ToolCall, options?: RunOptions): Promise<ToolResult<R>> {
    return runOne(this.#core, call, signalOf(options)) as Promise<ToolResult<R>>;
  }

  /**
   * Runs all calls; one result per call, in input order. The result of a call without an `id` has
   * its index as id (so has its tool's `ctx.callId`); observers see the calls as given. With
   * `dependsOn` anywhere, it is `runGraph()`. One promise for the batch, none per call.
   */
  runBatch(calls: readonly ToolCall[], options?: RunOptions): Promise<ToolResult[]> {
    return runBatch(this.#core, calls, signalOf(options));
  }

  /**
   * Runs a dependency graph: each call starts as soon as its own dependencies settle. Rejects
   * before anything runs (code `invalid_graph`) on duplicate ids, unknown dependencies and cycles.
   */
  runGraph(calls: readonly ToolCall[], options?: RunOptions): Promise<ToolResult[]> {
    return runGraph(this.#core, calls, signalOf(options));
  }

  /**
   * Runs a plain function under the global limits, like p-queue's `add()`: resolves with its value,
   * rejects with what it threw (as is), or with an `McpConcurrencyError` (`timeout`, `queue_timeout`,
   * `cancelled`, `queue_full`, `closed`) when it did not run to the end. `fn` gets `{ signal, attempt, callId }`.
   * Observers see its calls with tool name `function`. Unknown or bad options reject with `invalid_argument`
   * (p-queue's `timeout` is `timeoutMs` here).
   *
   * @example const page = await scheduler.add(({ signal }) => fetch(url, { signal }), { priority: 1 });
   */
  add<R>(fn: QueuedFunction<R>, options?: AddOptions): Promise<R> {
    return addFunction(this.#core, this.#functions, fn, options);
  }

  /**
   * A limited version of `fn`: each call runs under `policy` (its own `maxParallel`, limiters, retries,
   * deadlines) and the scheduler's global limits. Bottleneck's `wrap()`, p-limit's `limitFunction()`.
   *
   * @example const limitedFetch = scheduler.wrap(fetchJson, { maxParallel: 2, limiters: ['api'] });
   * @throws McpConcurrencyError `invalid_argument` for a bad `fn` or policy.
   */
  wrap<A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>, policy?: WrapPolicy): (...args: A) => Promise<R> {
    return wrapFunction(this.#core, fn, policy);
  }

  /** Stops starting calls; they queue up (and queue deadlines still apply) until `resume()`. */
  pause(): void {
    this.#core.paused = true;
  }

  /** Starts calls again after `pause()`. */
  resume(): void {
    this.#core.paused = false;
    this.#core.dispatch();
  }

  /**
   * Settles every call that has not started (queued, waiting for a limiter or for a retry) as
   * `cancelled` with code `cancelled`; an `add()` promise rejects. Running calls go on.
   */
  clear(): void {
    cancelWaiting(this.#core, new McpConcurrencyError('cancelled', 'Cleared from the queue before it started'));
  }

  /** Resolves when no call waits (running ones may go on): p-queue's `onEmpty()`. */
  onEmpty(): Promise<void> {
    return this.onSizeLessThan(1);
  }

  /** Resolves when fewer than `size` calls wait: p-queue's `onSizeLessThan()`. Rejects `invalid_argument` unless `size` is an integer >= 1. */
  onSizeLessThan(size: number): Promise<void> {
    try {
      checkPositiveInteger('size', size);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#core.events.onSizeLessThan(size, this.#core.queued);
  }

  /** Resolves when nothing is queued, running or waiting to retry: p-queue's `onIdle()`. */
  onIdle(): Promise<void> {
    return this.#core.events.onIdle(this.#core.isIdle());
  }

  /** The same as `onIdle()`. */
  drain(): Promise<void> {
    return this.onIdle();
  }

  /**
   * Refuses new calls (`rejected`, code `closed`), cancels waiting ones (`cancelled`, code `closed`)
   * and lets running ones finish; when `graceMs` elapses or `signal` aborts, their signals are aborted
   * and they settle as `cancelled`. Idempotent; resolves when every call has its result.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** `close()` with no grace: aborts running calls now (`reason` as the cause). Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    return this.#lifecycle.destroy(reason);
  }
}

/** Stands for a `signal` option that could not be read: submission refuses it (`invalid_argument`), nothing throws. */
const UNREADABLE_SIGNAL = Object.freeze({}) as unknown as AbortSignal;

/** `options.signal`, read once and guarded. */
function signalOf(options: RunOptions | undefined): AbortSignal | undefined {
  try {
    return options?.signal;
  } catch {
    return UNREADABLE_SIGNAL;
  }
}
