import { describeThrown, McpConcurrencyError, type ErrorCode } from './errors.js';
import { runGraph } from './graph.js';
import { Lane, TaskList, type KeyGate } from './lane.js';
import { composeObservers } from './observer.js';
import { backoffDelay } from './retry.js';
import { ACQUIRING, BatchResults, deliver, DONE, indexId, QUEUED, READY, RETRY_WAIT, RUNNING, Task, type ResultSink } from './task.js';
import { ToolState } from './tool-state.js';
import type {
  Clock,
  Limiter,
  Permit,
  SchedulerObserver,
  Tool,
  ToolCall,
  ToolErrorInfo,
  ToolPolicy,
  ToolResult,
  ToolStatus,
} from './types.js';
import {
  checkFunction,
  checkNonEmptyString,
  checkPositive,
  checkPositiveInteger,
  invalidArgument,
} from './validate.js';

export interface SchedulerOptions {
  /** Calls running at once, across all tools. @default 10 @example maxParallel: 32 */
  readonly maxParallel?: number;
  /** Calls waiting at once; one more settles at once as `rejected` with code `queue_full`. @default Infinity */
  readonly maxQueued?: number;
  /** The tools this scheduler runs; more can be added with `register()`. @default [] */
  readonly tools?: readonly Tool[];
  /** Policies by tool name; they override each tool's own `policy`. @example { search: { maxParallel: 2 } } */
  readonly policies?: Readonly<Record<string, ToolPolicy>>;
  /** Named limiters that tool policies refer to. @example { default: bucket50, api_calls: bucket10 } */
  readonly limiters?: Readonly<Record<string, Limiter>>;
  /** The key of a call for per-key limits (a tenant, a session, an origin); `undefined` for no key. */
  readonly key?: (call: ToolCall) => string | undefined;
  /**
   * Calls with the same key running at once, across tools; a function gives each key its own limit
   * (e.g. 1 for `resource:...` keys, 4 for `session:...` keys). Needs `key`. @default Infinity
   */
  readonly maxPerKey?: number | ((key: string) => number);
  /** Run deadline for tools without their own. @default none */
  readonly timeoutMs?: number;
  /** Queue deadline for tools without their own. @default none */
  readonly queueTimeoutMs?: number;
  /** Observers for metrics, logs and traces. @default [] */
  readonly observers?: readonly SchedulerObserver[];
  /** A monotonic millisecond clock. @default performance.now */
  readonly clock?: Clock;
  /** Source of randomness for retry jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
}

export interface RunOptions {
  /** Cancels the call: a queued call leaves the queue at once, a running one has its signal aborted. */
  readonly signal?: AbortSignal;
}

export interface CloseOptions {
  /** How long running calls may go on before their signals are aborted. @default Infinity */
  readonly graceMs?: number;
}

// `new Promise(capture)` hands its resolve function over without allocating an executor closure
// per call. The slot holds it only for the length of one synchronous statement.
let captured: ((result: ToolResult) => void) | undefined;
const capture = (resolve: (result: ToolResult) => void): void => {
  captured = resolve;
};

const defaultClock: Clock = { now: () => performance.now() };

/** Times are kept in tenths of a millisecond: the resolution of `queuedMs` and `runMs`. */
const TICKS_PER_MS = 10;

/**
 * Runs tool calls under a global cap, per-tool and per-key caps and named limiters, with
 * priorities, deadlines, retries, cancellation and dependency graphs. Every call yields exactly
 * one `ToolResult`; `run()` and `runBatch()` never reject for a call's failure.
 *
 * @example
 * const scheduler = new Scheduler({ maxParallel: 10, tools: [fetchTool] });
 * const results = await scheduler.runBatch(calls);
 */
export class Scheduler {
  #maxParallel: number;
  #maxQueued: number;
  #maxPerKey: number | ((key: string) => number);
  #timeoutMs: number | undefined;
  #queueTimeoutMs: number | undefined;
  readonly #keyOf: ((call: ToolCall) => string | undefined) | undefined;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #tools = new Map<string, ToolState>();
  readonly #policies = new Map<string, ToolPolicy>();
  readonly #limiters = new Map<string, Limiter>();
  readonly #keyGates = new Map<string, KeyGate>();
  #observers: SchedulerObserver[];
  #observer: SchedulerObserver | undefined;

  /** Lanes with calls queued, acquiring or ready. */
  readonly #active: Lane[] = [];
  readonly #retryWaiting = new TaskList();
  /**
   * One task that lives as long as the scheduler. V8 drops the hidden class of a class's instances
   * once none is alive, and then deoptimizes every function that used it: after an idle spell and a
   * full GC the whole hot path would run unoptimized until it warmed up again (measured: 7% of
   * throughput). Holding one instance keeps the hidden class, and the optimized code, alive.
   */
  readonly #shapeKeeper = new Task({ tool: '' }, new ToolState({ name: '(shape)', run: () => undefined }, undefined).lane, -1, 0, undefined);
  /** Every handler slot made (at most the peak of async calls running at once): where `close()` finds running calls. */
  readonly #slots: Slot[] = [];
  /** The call whose tool's synchronous part runs now; one at most, since dispatch does not nest. */
  #inSyncRun: Task | undefined;
  #running = 0;
  #queued = 0;
  #unsettled = 0;
  /** Submission order: FIFO within a priority, across lanes. */
  #seq = 0;
  /**
   * Time in ticks (TICKS_PER_MS per ms) since `#epoch`: small integers, so no task or result boxes a
   * double. Read from the clock once per synchronous step (a submission, a finish and the start it
   * makes room for): every entry point clears it first, and so does a tool's synchronous part, which
   * may have taken a while. -1 when not read yet.
   */
  #ticks = -1;
  /**
   * The submission time shared by calls submitted in one synchronous run (a batch, a loop): read once,
   * forgotten at the next microtask or when a tool's synchronous part runs. -1 when not read yet.
   */
  #submitTicks = -1;
  readonly #forgetSubmitTicks = (): void => {
    this.#submitTicks = -1;
  };
  readonly #epoch: number;
  #dispatching = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #forceClose: ((reason?: unknown) => void) | undefined;
  #idleWaiters: (() => void)[] | undefined;
  /** Free handler slots for running async calls (see `Slot`). */
  #freeSlot: Slot | undefined;
  readonly #slotOwner: SlotOwner = {
    finish: (task, ok, outcome) => this.#finish(task, ok, outcome),
    release: (slot) => {
      slot.nextFree = this.#freeSlot;
      this.#freeSlot = slot;
    },
  };

  constructor(options: SchedulerOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    this.#maxParallel = checkPositiveInteger('maxParallel', options.maxParallel ?? 10, true);
    this.#maxQueued = options.maxQueued === undefined ? Infinity : checkNonNegativeOrInfinity('maxQueued', options.maxQueued);
    if (options.key !== undefined) checkFunction('key', options.key);
    this.#keyOf = options.key;
    this.#maxPerKey =
      options.maxPerKey === undefined ? Infinity
      : typeof options.maxPerKey === 'function' ? options.maxPerKey
      : checkPositiveInteger('maxPerKey', options.maxPerKey, true);
    if (options.maxPerKey !== undefined && options.key === undefined) {
      throw invalidArgument('key', 'a function when `maxPerKey` is set', options.key);
    }
    this.#timeoutMs = options.timeoutMs === undefined ? undefined : checkPositive('timeoutMs', options.timeoutMs, true);
    this.#queueTimeoutMs =
      options.queueTimeoutMs === undefined ? undefined : checkPositive('queueTimeoutMs', options.queueTimeoutMs, true);
    if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
      throw invalidArgument('clock', 'an object with a now() method', options.clock);
    }
    this.#clock = options.clock ?? defaultClock;
    this.#epoch = this.#clock.now();
    if (options.random !== undefined) checkFunction('random', options.random);
    this.#random = options.random ?? Math.random;
    if (options.observers !== undefined && !Array.isArray(options.observers)) {
      throw invalidArgument('observers', 'an array of observers', options.observers);
    }
    this.#observers = [...(options.observers ?? [])];
    this.#observer = composeObservers(this.#observers);
    for (const [name, limiter] of Object.entries(options.limiters ?? {})) this.setLimiter(name, limiter);
    for (const [name, policy] of Object.entries(options.policies ?? {})) this.#policies.set(name, policy);
    for (const tool of options.tools ?? []) this.register(tool);
  }

  /** Calls holding a slot now (a call whose result went out on timeout keeps its slot until its tool returns). */
  get running(): number {
    return this.#running;
  }
  /** Calls waiting for a slot or a limiter now. */
  get queued(): number {
    return this.#queued;
  }
  /** Calls submitted whose result has not gone out yet. */
  get pending(): number {
    return this.#unsettled;
  }
  get maxParallel(): number {
    return this.#maxParallel;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** The names of the registered tools. */
  get toolNames(): string[] {
    return [...this.#tools.keys()];
  }
  /** The named limiters, for observers that read their state (tokens available). */
  get limiters(): ReadonlyMap<string, Limiter> {
    return this.#limiters;
  }

  /** Per tool: calls holding a slot and calls waiting (for a slot or a limiter). Cheap enough for every scrape. */
  toolStats(): Record<string, { running: number; queued: number }> {
    const stats: Record<string, { running: number; queued: number }> = {};
    for (const [name, tool] of this.#tools) stats[name] = { running: tool.running, queued: 0 };
    for (const lane of this.#active) {
      const entry = stats[lane.tool.tool.name];
      if (entry === undefined) continue;
      entry.queued += lane.size + (lane.acquiring === undefined ? 0 : 1) + (lane.ready === undefined ? 0 : 1);
    }
    return stats;
  }

  /** Adds a tool (or replaces one of the same name, keeping its running count). */
  register(tool: Tool, policy?: ToolPolicy): this {
    if (typeof tool !== 'object' || tool === null) throw invalidArgument('tool', 'a tool object', tool);
    checkNonEmptyString('tool.name', tool.name);
    checkFunction(`tool.run (of "${tool.name}")`, tool.run);
    const resolved = { ...tool.policy, ...this.#policies.get(tool.name), ...policy };
    const existing = this.#tools.get(tool.name);
    if (existing !== undefined && existing.tool === tool) existing.apply(resolved);
    else {
      const state = new ToolState(tool, resolved);
      if (existing !== undefined) state.running = existing.running;
      this.#tools.set(tool.name, state);
    }
    this.#dispatch();
    return this;
  }

  /** Changes a tool's limits at run time; calls already running keep going. */
  setToolPolicy(name: string, policy: ToolPolicy): void {
    const state = this.#tools.get(name);
    this.#policies.set(name, { ...this.#policies.get(name), ...policy });
    if (state !== undefined) state.apply({ ...state.tool.policy, ...this.#policies.get(name) });
    this.#dispatch();
  }

  setMaxParallel(maxParallel: number): void {
    this.#maxParallel = checkPositiveInteger('maxParallel', maxParallel, true);
    this.#dispatch();
  }

  setMaxPerKey(maxPerKey: number | ((key: string) => number)): void {
    if (this.#keyOf === undefined) throw invalidArgument('key', 'a function when `maxPerKey` is set', undefined);
    this.#maxPerKey = typeof maxPerKey === 'function' ? maxPerKey : checkPositiveInteger('maxPerKey', maxPerKey, true);
    for (const [key, gate] of this.#keyGates) gate.limit = this.#limitForKey(key);
    this.#dispatch();
  }

  #limitForKey(key: string): number {
    const limit = this.#maxPerKey;
    if (typeof limit === 'number') return limit;
    let value: unknown;
    try {
      value = limit(key);
    } catch {
      return Infinity;
    }
    return typeof value === 'number' && value >= 1 ? value : Infinity;
  }

  /** Adds or replaces a named limiter. */
  setLimiter(name: string, limiter: Limiter): void {
    checkNonEmptyString('limiter name', name);
    if (typeof limiter !== 'object' || limiter === null || typeof limiter.acquire !== 'function') {
      throw invalidArgument(`limiters.${name}`, 'a Limiter (an object with acquire())', limiter);
    }
    this.#limiters.set(name, limiter);
  }

  addObserver(observer: SchedulerObserver): () => void {
    this.#observers.push(observer);
    this.#observer = composeObservers(this.#observers);
    return () => {
      this.#observers = this.#observers.filter((o) => o !== observer);
      this.#observer = composeObservers(this.#observers);
    };
  }

  /** Runs one call. Resolves with its result; never rejects. */
  run<R = unknown>(call: ToolCall, options?: RunOptions): Promise<ToolResult<R>> {
    const promise = new Promise<ToolResult>(capture);
    const resolve = captured!;
    captured = undefined;
    this.#submit(call, options?.signal, resolve, this.#seq++);
    return promise as Promise<ToolResult<R>>;
  }

  /**
   * Runs all calls; one result per call, in input order. The result of a call without an `id` has
   * its index as id (so has its tool's `ctx.callId`); observers see the calls as given. With
   * `dependsOn` anywhere, it is `runGraph()`. One promise for the batch, none per call.
   */
  runBatch(calls: readonly ToolCall[], options?: RunOptions): Promise<ToolResult[]> {
    if (!Array.isArray(calls)) return Promise.reject(invalidArgument('calls', 'an array of tool calls', calls));
    if (calls.some((c) => c?.dependsOn !== undefined && c.dependsOn.length > 0)) return this.runGraph(calls, options);
    if (calls.length === 0) return Promise.resolve([]);
    const signal = options?.signal;
    // The batch's calls take consecutive submission numbers, reserved up front (a key function or an
    // observer could submit other calls meanwhile): each result finds its slot from its number.
    const firstSeq = this.#seq;
    this.#seq += calls.length;
    let batch!: BatchResults;
    const all = new Promise<ToolResult[]>((resolve) => (batch = new BatchResults(calls.length, firstSeq, resolve)));
    // With a signal, one listener for the whole batch: a listener per call would make every removal
    // walk thousands of others (EventTarget keeps a list).
    const batchSignal = signal !== undefined && signal instanceof AbortSignal && !signal.aborted && calls.length > 1;
    const tasks: Task[] = [];
    for (let i = 0; i < calls.length; i++) {
      const task = this.#submit(calls[i]!, batchSignal ? undefined : signal, batch, firstSeq + i);
      if (batchSignal && task !== undefined) tasks.push(task);
    }
    if (!batchSignal) return all;
    const onAbort = (): void => {
      const error = cancelledError(signal);
      for (const task of tasks) this.#cancel(task, error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return all.finally(() => signal.removeEventListener('abort', onAbort));
  }

  /**
   * Runs a dependency graph: each call starts as soon as its own dependencies settle. Rejects
   * before anything runs (code `invalid_graph`) on duplicate ids, unknown dependencies and cycles.
   */
  runGraph(calls: readonly ToolCall[], options?: RunOptions): Promise<ToolResult[]> {
    const signal = options?.signal;
    const emit = (result: ToolResult, call: ToolCall): void => this.#emitSettled(result, call);
    if (signal === undefined || !(signal instanceof AbortSignal) || signal.aborted) {
      return runGraph(calls, (call) => this.run(call, options), emit);
    }
    // One abort listener for the whole graph, as in runBatch: it cancels the calls still live, and a
    // call submitted after the abort settles as cancelled at once.
    const live = new Set<Task>();
    const onAbort = (): void => {
      const error = cancelledError(signal);
      for (const task of live) this.#cancel(task, error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const submit = (call: ToolCall): Promise<ToolResult> => {
      if (signal.aborted) return this.run(call, options);
      const promise = new Promise<ToolResult>(capture);
      const resolve = captured!;
      captured = undefined;
      const task = this.#submit(call, undefined, resolve, this.#seq++);
      if (task === undefined) return promise;
      live.add(task);
      return promise.then((result) => {
        live.delete(task);
        return result;
      });
    };
    return runGraph(calls, submit, emit).finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Resolves when nothing is queued, running or waiting to retry. */
  drain(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => (this.#idleWaiters ??= []).push(resolve));
  }

  /**
   * Refuses new calls (`rejected`, code `closed`), cancels queued ones (`cancelled`, code `closed`)
   * and lets running ones finish; after `graceMs` their signals are aborted and they settle as
   * `cancelled`. Idempotent; resolves when every call has its result.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const graceMs = options.graceMs === undefined ? Infinity : checkNonNegativeOrInfinity('graceMs', options.graceMs);
    this.#closed = true;
    const reason = new McpConcurrencyError('closed', 'The scheduler was closed before this call started');
    for (const lane of [...this.#active]) {
      for (const task of [lane.ready, lane.acquiring]) if (task !== undefined) this.#cancel(task, reason);
      while (lane.head !== undefined) this.#cancel(lane.head, reason);
    }
    while (this.#retryWaiting.head !== undefined) this.#cancel(this.#retryWaiting.head, reason);
    this.#closing = this.#closeRunning(graceMs);
    return this.#closing;
  }

  /** `close()` with no grace: aborts running calls now. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    if (this.#closing === undefined) this.close({ graceMs: Infinity });
    this.#forceClose?.(reason);
    return this.#closing!;
  }

  /** Resolves when every call has its result: at once when running calls finish, or when grace runs out. */
  #closeRunning(graceMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stop = (reason?: unknown): void => {
        if (this.#forceClose === undefined) return;
        this.#forceClose = undefined;
        clearTimeout(timer);
        this.#abortRunning(reason);
        resolve();
      };
      this.#forceClose = stop;
      if (graceMs === 0) stop();
      else {
        if (graceMs !== Infinity) timer = setTimeout(stop, graceMs);
        void this.drain().then(() => stop());
      }
    });
  }

  #abortRunning(reason: unknown): void {
    const error =
      reason instanceof McpConcurrencyError
        ? reason
        : new McpConcurrencyError('closed', 'The scheduler was closed while this call ran', { cause: reason });
    const running = this.#slots.map((slot) => slot.task);
    running.push(this.#inSyncRun);
    for (const task of running) if (task?.sink !== undefined) this.#cancel(task, error);
  }

  // ---------------------------------------------------------------------------------------------
  // Submission

  /** Queues a call; returns its task, or undefined when it settled at once (refused, unknown, cancelled). */
  #submit(call: ToolCall, signal: AbortSignal | undefined, sink: ResultSink, seq: number): Task | undefined {
    if (typeof call !== 'object' || call === null || typeof call.tool !== 'string') {
      this.#settleAtOnce(call, sink, seq, 'rejected', invalidArgument('call', 'an object with a string `tool`', call));
      return undefined;
    }
    if (this.#closed) {
      this.#settleAtOnce(call, sink, seq, 'rejected', new McpConcurrencyError('closed', 'The scheduler is closed'));
      return undefined;
    }
    const tool = this.#tools.get(call.tool);
    if (tool === undefined) {
      this.#settleAtOnce(call, sink, seq, 'rejected', this.#unknownTool(call.tool));
      return undefined;
    }
    if (signal !== undefined) {
      if (!(signal instanceof AbortSignal)) {
        this.#settleAtOnce(call, sink, seq, 'rejected', invalidArgument('signal', 'an AbortSignal', signal));
        return undefined;
      }
      if (signal.aborted) {
        this.#settleAtOnce(call, sink, seq, 'cancelled', cancelledError(signal));
        return undefined;
      }
    }
    if (this.#queued >= this.#maxQueued) {
      const error = new McpConcurrencyError('queue_full', `The queue is full (${this.#maxQueued} calls waiting); try again later`);
      this.#settleAtOnce(call, sink, seq, 'rejected', error);
      return undefined;
    }
    if (call.priority !== undefined && !Number.isFinite(call.priority)) {
      this.#settleAtOnce(call, sink, seq, 'rejected', invalidArgument('priority', 'a finite number', call.priority));
      return undefined;
    }
    const lane = this.#keyOf === undefined ? tool.lane : this.#keyedLane(tool, call);
    let queuedAt = this.#submitTicks;
    if (queuedAt < 0) {
      queuedAt = this.#submitTicks = this.#read();
      queueMicrotask(this.#forgetSubmitTicks);
    }
    this.#ticks = queuedAt;
    const task = new Task(call, lane, seq, queuedAt, sink);
    if (lane.keyGate !== undefined) lane.keyGate.users++;
    this.#unsettled++;
    this.#enqueue(task);
    const observer = this.#observer;
    if (observer?.onQueued !== undefined) {
      try {
        observer.onQueued(call);
      } catch {
        // An observer must never change a call's outcome.
      }
    }

    const queueTimeoutMs = call.queueTimeoutMs ?? tool.queueTimeoutMs ?? this.#queueTimeoutMs;
    if (queueTimeoutMs !== undefined && queueTimeoutMs !== Infinity) {
      this.#armQueueTimeout(task, queueTimeoutMs);
    }
    if (signal !== undefined) {
      const extras = task.extra();
      extras.signal = signal;
      extras.onAbort = () => this.#cancel(task, cancelledError(signal));
      signal.addEventListener('abort', extras.onAbort, { once: true });
    }
    this.#dispatch();
    return task;
  }

  #keyedLane(tool: ToolState, call: ToolCall): Lane {
    let key: string | undefined;
    try {
      key = this.#keyOf!(call);
    } catch {
      key = undefined;
    }
    if (key === undefined) return tool.lane;
    let lane = tool.keyed.get(key);
    if (lane === undefined) {
      let gate = this.#keyGates.get(key);
      if (gate === undefined) {
        gate = { limit: this.#limitForKey(key), running: 0, users: 0 };
        this.#keyGates.set(key, gate);
      }
      lane = new Lane(tool, gate, key);
      tool.keyed.set(key, lane);
    }
    return lane;
  }

  #enqueue(task: Task): void {
    task.state = QUEUED;
    this.#queued++;
    const lane = task.lane;
    lane.insert(task);
    if (lane.activeIndex < 0) {
      lane.activeIndex = this.#active.length;
      this.#active.push(lane);
    }
  }

  #armQueueTimeout(task: Task, ms: number): void {
    task.extra().timer = setTimeout(() => {
      if (task.state === RUNNING || task.sink === undefined) return;
      const error = new McpConcurrencyError(
        'queue_timeout',
        `Call "${task.callId}" of tool "${task.call.tool}" waited ${ms} ms in the queue without starting`,
      );
      this.#cancel(task, error);
    }, ms);
  }

  // ---------------------------------------------------------------------------------------------
  // Dispatch: start the best runnable calls while global slots are free.

  #dispatch(): void {
    // A sync tool settles inside #start and would call back in here; the loop below picks that up.
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      const active = this.#active;
      while (this.#running < this.#maxParallel && active.length > 0) {
        const lane = active.length === 1 ? runnable(active[0]!) : this.#pick();
        if (lane === undefined) break;
        this.#advance(lane);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  /** The runnable lane whose next call has the highest priority, oldest first. O(active lanes). */
  #pick(): Lane | undefined {
    let best: Lane | undefined;
    let bestTask: Task | undefined;
    for (const lane of this.#active) {
      const task = lane.candidate();
      if (task === undefined || runnable(lane) === undefined) continue;
      if (
        bestTask === undefined ||
        task.priority > bestTask.priority ||
        (task.priority === bestTask.priority && task.seq < bestTask.seq)
      ) {
        best = lane;
        bestTask = task;
      }
    }
    return best;
  }

  #advance(lane: Lane): void {
    let task = lane.ready;
    if (task !== undefined) {
      lane.ready = undefined;
      this.#start(task);
    } else {
      task = lane.head!;
      lane.remove(task);
      if (lane.tool.limiters.length === 0) this.#start(task);
      else this.#acquire(task);
    }
    if (lane.isIdle()) this.#deactivate(lane);
  }

  #deactivate(lane: Lane): void {
    const index = lane.activeIndex;
    if (index < 0) return;
    const last = this.#active.pop()!;
    if (last !== lane) {
      this.#active[index] = last;
      last.activeIndex = index;
    }
    lane.activeIndex = -1;
    if (lane.key !== undefined) lane.tool.keyed.delete(lane.key);
  }

  /** Takes the call's named limiters: synchronously when they all have room, else waiting off the slots. */
  #acquire(task: Task): void {
    const tool = task.lane.tool;
    const names = tool.limiters;
    const permits: Permit[] = [];
    let i = 0;
    for (; i < names.length; i++) {
      const limiter = this.#limiters.get(names[i]!);
      if (limiter === undefined) {
        this.#refuse(task, permits, this.#missingLimiter(names[i]!, tool.tool.name));
        return;
      }
      if (limiter.tryAcquire === undefined) break;
      let permit: Permit | undefined;
      try {
        permit = limiter.tryAcquire({ cost: tool.cost });
      } catch (error) {
        this.#refuse(task, permits, limiterError(error, names[i]!));
        return;
      }
      if (permit === undefined) break;
      permits.push(permit);
      this.#limiterWaited(names[i]!, 0, task.call);
    }
    task.extra().permits = permits;
    if (i === names.length) {
      this.#start(task);
      return;
    }
    task.state = ACQUIRING;
    task.lane.acquiring = task;
    const controller = new AbortController();
    task.extras!.acquireController = controller;
    void this.#acquireRest(task, i, permits, controller.signal).then(
      () => {
        this.#ticks = -1;
        task.lane.acquiring = undefined;
        if (task.sink === undefined) {
          this.#releasePermits(permits);
        } else {
          task.state = READY;
          task.lane.ready = task;
        }
        if (task.lane.isIdle()) this.#deactivate(task.lane);
        this.#dispatch();
      },
      (error: unknown) => {
        this.#ticks = -1;
        task.lane.acquiring = undefined;
        if (task.sink === undefined) this.#releasePermits(permits);
        else this.#refuse(task, permits, limiterError(error, 'limiter'));
        if (task.lane.isIdle()) this.#deactivate(task.lane);
        this.#dispatch();
      },
    );
  }

  async #acquireRest(task: Task, from: number, permits: Permit[], signal: AbortSignal): Promise<void> {
    const tool = task.lane.tool;
    const names = tool.limiters;
    for (let i = from; i < names.length; i++) {
      const name = names[i]!;
      const limiter = this.#limiters.get(name);
      if (limiter === undefined) throw this.#missingLimiter(name, tool.tool.name);
      this.#ticks = -1;
      const started = this.#now();
      try {
        permits.push(await limiter.acquire({ cost: tool.cost, signal }));
      } catch (error) {
        throw limiterError(error, name);
      }
      this.#ticks = -1;
      this.#limiterWaited(name, (this.#now() - started) / TICKS_PER_MS, task.call);
    }
  }

  /** Settles a call its limiters refused (rate_limited, limiter_unavailable, a missing limiter). */
  #refuse(task: Task, permits: Permit[], error: McpConcurrencyError): void {
    this.#queued--;
    this.#releasePermits(permits);
    const info = errorInfo(error);
    this.#settle(task, error.code === 'invalid_argument' ? 'rejected' : statusOf(error.code), undefined, info);
    task.state = DONE;
    if (this.#idleWaiters !== undefined && this.#isIdle()) this.#wakeIdle();
  }

  #limiterWaited(name: string, waitedMs: number, call: ToolCall): void {
    const observer = this.#observer;
    if (observer?.onLimiterWait !== undefined) this.#notify(() => observer.onLimiterWait!(name, waitedMs, call));
  }

  #releasePermits(permits: Permit[] | undefined): void {
    if (permits === undefined) return;
    for (const permit of permits) {
      try {
        permit.release();
      } catch {
        // A limiter's release must not cost a call its result.
      }
    }
    permits.length = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  #start(task: Task): void {
    const tool = task.lane.tool;
    this.#queued--;
    this.#running++;
    tool.running++;
    if (task.lane.keyGate !== undefined) task.lane.keyGate.running++;
    task.state = RUNNING;
    const extras = task.extras;
    const now = this.#now();
    if (task.startedAt < 0) task.startedAt = now;
    if (extras !== undefined) extras.attempts++;
    const attempt = task.attempts;
    if (extras?.timer !== undefined) {
      clearTimeout(extras.timer);
      extras.timer = undefined;
    }
    const observer = this.#observer;
    if (observer?.onStart !== undefined) {
      try {
        observer.onStart(task.call, (now - task.queuedAt) / TICKS_PER_MS, attempt);
      } catch {
        // An observer must never change a call's outcome.
      }
    }
    const timeoutMs = task.call.timeoutMs ?? tool.timeoutMs ?? this.#timeoutMs;
    if (timeoutMs !== undefined && timeoutMs !== Infinity) this.#armRunTimeout(task, timeoutMs);

    let value: unknown;
    this.#inSyncRun = task;
    try {
      value = tool.tool.run(task.call.params, task);
    } catch (error) {
      this.#inSyncRun = undefined;
      this.#finish(task, false, error);
      return;
    }
    this.#inSyncRun = undefined;
    // The tool's synchronous part may have taken a while: the next reading goes to the clock.
    this.#ticks = this.#submitTicks = -1;
    if (value instanceof Promise || isThenable(value)) {
      const slot = this.#freeSlot ?? this.#newSlot();
      this.#freeSlot = slot.nextFree;
      slot.nextFree = undefined;
      slot.task = task;
      (value as PromiseLike<unknown>).then(slot.ok, slot.err);
    } else {
      this.#finish(task, true, value);
    }
  }

  #newSlot(): Slot {
    const slot = new Slot(this.#slotOwner);
    this.#slots.push(slot);
    return slot;
  }

  #armRunTimeout(task: Task, ms: number): void {
    const extras = task.extra();
    extras.timer = setTimeout(() => {
      extras.timer = undefined;
      if (task.state !== RUNNING || task.sink === undefined) return;
      const error = new McpConcurrencyError(
        'timeout',
        `Tool "${task.call.tool}" did not finish call "${task.callId}" within ${ms} ms; its signal was aborted`,
      );
      this.#cancel(task, error);
    }, ms);
  }

  #finish(task: Task, ok: boolean, outcome: unknown): void {
    this.#ticks = -1;
    this.#running--;
    task.lane.tool.running--;
    const keyGate = task.lane.keyGate;
    if (keyGate !== undefined) keyGate.running--;
    const extras = task.extras;
    if (extras !== undefined) {
      this.#releasePermits(extras.permits);
      if (extras.timer !== undefined) {
        clearTimeout(extras.timer);
        extras.timer = undefined;
      }
    }
    if (task.sink === undefined) {
      // Its result went out on timeout or cancellation; now its slots are free too.
      task.state = DONE;
      this.#releaseKey(task);
    } else if (ok) {
      task.state = DONE;
      this.#settle(task, 'ok', outcome, undefined);
    } else if (!this.#retry(task, outcome)) {
      task.state = DONE;
      const info = errorInfo(outcome);
      this.#settle(task, statusOf(info.code), undefined, info);
    }
    this.#dispatch();
    if (this.#idleWaiters !== undefined && this.#isIdle()) this.#wakeIdle();
  }

  /** Schedules another attempt with its slots released; false when the failure is final. */
  #retry(task: Task, error: unknown): boolean {
    const policy = task.lane.tool.retry;
    if (policy === undefined || this.#closed || task.attempts > policy.retries) return false;
    let retryable: boolean;
    try {
      retryable = policy.retryOn(error, task.attempts);
    } catch {
      retryable = false;
    }
    if (!retryable) return false;
    const retryAfter = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
    const delayMs = backoffDelay(policy, task.attempts, this.#random, typeof retryAfter === 'number' ? retryAfter : 0);
    task.state = RETRY_WAIT;
    this.#retryWaiting.push(task);
    const observer = this.#observer;
    if (observer?.onRetry !== undefined) {
      const info = errorInfo(error);
      this.#notify(() => observer.onRetry!(task.call, task.attempts + 1, delayMs, info));
    }
    task.extra().timer = setTimeout(() => {
      task.extras!.timer = undefined;
      if (task.state !== RETRY_WAIT) return;
      this.#ticks = -1;
      this.#retryWaiting.remove(task);
      this.#enqueue(task);
      this.#dispatch();
    }, delayMs);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Settling

  /** Cancels a call in any state with `error` (code `cancelled`, `timeout`, `queue_timeout` or `closed`). */
  #cancel(task: Task, error: McpConcurrencyError): void {
    if (task.sink === undefined) return;
    this.#ticks = -1;
    switch (task.state) {
      case QUEUED:
        task.lane.remove(task);
        this.#queued--;
        if (task.lane.isIdle()) this.#deactivate(task.lane);
        break;
      case ACQUIRING:
        // The acquisition's handler frees the lane and any permits taken so far.
        this.#queued--;
        task.extras!.acquireController!.abort(error);
        break;
      case READY:
        task.lane.ready = undefined;
        this.#queued--;
        this.#releasePermits(task.extras!.permits);
        if (task.lane.isIdle()) this.#deactivate(task.lane);
        break;
      case RETRY_WAIT:
        this.#retryWaiting.remove(task);
        break;
      case RUNNING: {
        const extras = task.extra();
        // The tool runs on after its result goes out (and its sink with it): it keeps its index id.
        extras.callId = task.callId;
        if (extras.controller !== undefined) extras.controller.abort(error);
        else extras.abortReason = error;
        break;
      }
    }
    const info: ToolErrorInfo = { code: error.code, message: error.message };
    this.#settle(task, statusOf(error.code), undefined, info);
    if (task.state !== RUNNING) {
      task.state = DONE;
      this.#dispatch();
      if (this.#idleWaiters !== undefined && this.#isIdle()) this.#wakeIdle();
    }
  }

  #settle(task: Task, status: ToolStatus, value: unknown, error: ToolErrorInfo | undefined): void {
    const sink = task.sink!;
    const id = task.call.id ?? indexId(sink, task.seq);
    task.sink = undefined;
    this.#unsettled--;
    if (task.state !== RUNNING) this.#releaseKey(task);
    const extras = task.extras;
    if (extras !== undefined) {
      if (extras.timer !== undefined) {
        clearTimeout(extras.timer);
        extras.timer = undefined;
      }
      if (extras.onAbort !== undefined) {
        extras.signal!.removeEventListener('abort', extras.onAbort);
        extras.onAbort = undefined;
      }
    }
    const now = this.#now();
    const startedAt = task.startedAt;
    const result: ToolResult = {
      id,
      tool: task.call.tool,
      status,
      value,
      error,
      queuedMs: ((startedAt < 0 ? now : startedAt) - task.queuedAt) / TICKS_PER_MS,
      runMs: startedAt < 0 ? 0 : (now - startedAt) / TICKS_PER_MS,
      attempts: task.attempts,
    };
    this.#emitSettled(result, task.call);
    deliver(sink, task.seq, result);
  }

  #releaseKey(task: Task): void {
    const gate = task.lane.keyGate;
    if (gate !== undefined && --gate.users === 0 && gate.running === 0) this.#keyGates.delete(task.lane.key!);
  }

  #emitSettled(result: ToolResult, call: ToolCall | undefined): void {
    const observer = this.#observer;
    if (observer?.onSettled !== undefined) {
      try {
        observer.onSettled(result, call);
      } catch {
        // An observer must never change a call's outcome.
      }
    }
  }

  /** Settles a call that never entered the queue. */
  #settleAtOnce(call: unknown, sink: ResultSink, seq: number, status: ToolStatus, error: McpConcurrencyError): void {
    const c = (typeof call === 'object' && call !== null ? call : {}) as Partial<ToolCall>;
    const result: ToolResult = {
      id: typeof c.id === 'string' ? c.id : indexId(sink, seq),
      tool: typeof c.tool === 'string' ? c.tool : '',
      status,
      value: undefined,
      error: { code: error.code, message: error.message },
      queuedMs: 0,
      runMs: 0,
      attempts: 0,
    };
    this.#emitSettled(result, typeof call === 'object' && call !== null ? (call as ToolCall) : undefined);
    deliver(sink, seq, result);
  }

  /** Now, in ticks since the epoch; one clock reading per synchronous step. */
  #now(): number {
    if (this.#ticks < 0) this.#ticks = this.#read();
    return this.#ticks;
  }

  #read(): number {
    return Math.floor((this.#clock.now() - this.#epoch) * TICKS_PER_MS);
  }

  #notify(hook: () => void): void {
    try {
      hook();
    } catch {
      // An observer must never change a call's outcome.
    }
  }

  #isIdle(): boolean {
    return this.#unsettled === 0 && this.#running === 0 && this.#retryWaiting.size === 0;
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters!;
    this.#idleWaiters = undefined;
    for (const wake of waiters) wake();
  }

  #unknownTool(name: string): McpConcurrencyError {
    const known = [...this.#tools.keys()];
    const list = known.length === 0 ? 'no tools are registered' : `registered: ${known.slice(0, 20).join(', ')}`;
    return new McpConcurrencyError('unknown_tool', `Unknown tool "${name}" (${list})`);
  }

  #missingLimiter(name: string, tool: string): McpConcurrencyError {
    return new McpConcurrencyError(
      'invalid_argument',
      `Tool "${tool}" uses limiter "${name}", which is not registered (limiters: ${[...this.#limiters.keys()].join(', ') || 'none'})`,
    );
  }
}

interface SlotOwner {
  finish(task: Task, ok: boolean, outcome: unknown): void;
  release(slot: Slot): void;
}

/**
 * The pair of handlers a running async call passes to its promise's `then`. Made once and reused from
 * a free list (there are never more than the calls running at once), so starting a call allocates no
 * closures. A thenable that calls back twice is ignored the second time.
 */
class Slot {
  task: Task | undefined = undefined;
  nextFree: Slot | undefined = undefined;
  readonly ok: (value: unknown) => void;
  readonly err: (error: unknown) => void;

  constructor(owner: SlotOwner) {
    const settle = (ok: boolean, outcome: unknown): void => {
      const task = this.task;
      if (task === undefined) return;
      this.task = undefined;
      owner.release(this);
      owner.finish(task, ok, outcome);
    };
    this.ok = (value) => settle(true, value);
    this.err = (error) => settle(false, error);
  }
}

function runnable(lane: Lane): Lane | undefined {
  const gate = lane.tool;
  if (gate.running >= gate.limit) return undefined;
  const keyGate = lane.keyGate;
  if (keyGate !== undefined && keyGate.running >= keyGate.limit) return undefined;
  return lane.candidate() === undefined ? undefined : lane;
}

function isThenable(value: unknown): boolean {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function checkNonNegativeOrInfinity(name: string, value: unknown): number {
  if (typeof value === 'number' && value >= 0 && (Number.isInteger(value) || value === Infinity)) return value;
  throw invalidArgument(name, 'an integer >= 0 or Infinity', value);
}

function cancelledError(signal: AbortSignal): McpConcurrencyError {
  const reason: unknown = signal.reason;
  if (reason instanceof McpConcurrencyError) return reason;
  const detail = reason === undefined ? '' : `: ${describeThrown(reason)}`;
  return new McpConcurrencyError('cancelled', `Cancelled by the caller${detail}`, { cause: reason });
}

function limiterError(error: unknown, name: string): McpConcurrencyError {
  if (error instanceof McpConcurrencyError) return error;
  return new McpConcurrencyError('limiter_unavailable', `Limiter "${name}" failed: ${describeThrown(error)}`, {
    cause: error,
  });
}

function errorInfo(error: unknown): ToolErrorInfo {
  if (error instanceof McpConcurrencyError) {
    const info: { code: ErrorCode; message: string; retryable?: boolean; retryAfterMs?: number } = { code: error.code, message: error.message };
    if (error.retryable) info.retryable = true;
    if (error.retryAfterMs !== undefined) info.retryAfterMs = error.retryAfterMs;
    return info;
  }
  return { code: 'tool_error', message: describeThrown(error) };
}

function statusOf(code: ErrorCode): ToolStatus {
  switch (code) {
    case 'timeout':
    case 'queue_timeout':
      return 'timeout';
    case 'cancelled':
    case 'closed':
      return 'cancelled';
    case 'queue_full':
    case 'rate_limited':
    case 'limiter_unavailable':
      return 'rejected';
    default:
      return 'error';
  }
}
