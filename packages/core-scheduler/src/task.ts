/** One submitted call from submission to its result, and where that result goes. */
import type { Lane } from './lane.js';
import type { Permit, ToolCall, ToolContext, ToolResult } from './types.js';

/**
 * Where a call's result goes: the resolve function of `run()`'s promise, its batch's result list, or
 * the promise of an `add()` / wrapped-function call.
 */
export type ResultSink = ((result: ToolResult) => void) | BatchResults | FunctionCall;

/**
 * The results of one `runBatch()`. Its calls take consecutive submission numbers, so each result
 * finds its slot from its task's `seq`: a batch costs one promise, not one per call.
 */
export class BatchResults {
  readonly results: ToolResult[];
  #remaining: number;

  constructor(
    size: number,
    readonly firstSeq: number,
    readonly done: (results: ToolResult[]) => void,
  ) {
    this.results = new Array<ToolResult>(size);
    this.#remaining = size;
  }

  deliver(seq: number, result: ToolResult): void {
    this.results[seq - this.firstSeq] = result;
    if (--this.#remaining === 0) this.done(this.results);
  }
}

/**
 * A call of a plain function (`add(fn)`, a wrapped function): the call observers see and the sink of
 * its promise in one object. Its promise resolves with the value and rejects with what the function
 * threw, as is (p-queue's semantics); a call that never ran rejects with its coded error.
 *
 * Only the promise's resolve function is kept: a failure resolves it with a promise rejected with the
 * failure, which rejects it just the same. Keeping `reject` too would hold a second closure per queued
 * call (about 64 bytes), and with 100,000 calls queued the garbage collector's time is most of the cost.
 */
export class FunctionCall implements ToolCall {
  constructor(
    readonly tool: string,
    /** `add()`: the function; a wrapped function: its arguments. */
    readonly params: unknown,
    /** `add()`'s options: read through the getters below, so a call without options costs four fields. */
    readonly options: FunctionCallOptions | undefined,
    readonly resolve: (value: unknown) => void,
  ) {}

  get id(): string | undefined {
    return this.options?.id;
  }
  get priority(): number | undefined {
    return this.options?.priority;
  }
  get timeoutMs(): number | undefined {
    return this.options?.timeoutMs;
  }
  get queueTimeoutMs(): number | undefined {
    return this.options?.queueTimeoutMs;
  }

  /** `failure` is what the function threw, or the coded error of a call that did not run to the end. */
  settle(ok: boolean, value: unknown, failure: unknown): void {
    // Promise.reject(failure) is adopted in the same microtask checkpoint, so it is never reported unhandled.
    this.resolve(ok ? value : Promise.reject(failure));
  }
}

/** The per-call options a function call carries (`AddOptions` without the signal). */
export interface FunctionCallOptions {
  readonly id?: string;
  readonly priority?: number;
  readonly timeoutMs?: number;
  readonly queueTimeoutMs?: number;
}

/** The id of a call that has none: its index in its batch, else ''. */
export function indexId(sink: ResultSink | undefined, seq: number): string {
  return sink instanceof BatchResults ? String(seq - sink.firstSeq) : '';
}

/** Hands a result to its sink; `failure` is the raw thrown value (only a function call's promise uses it). */
export function deliver(sink: ResultSink, seq: number, result: ToolResult, failure: unknown): void {
  if (typeof sink === 'function') sink(result);
  else if (sink instanceof BatchResults) sink.deliver(seq, result);
  else sink.settle(result.status === 'ok', result.value, failure);
}

export const QUEUED = 0;
export const ACQUIRING = 1;
export const READY = 2;
export const RUNNING = 3;
export const RETRY_WAIT = 4;
export const DONE = 5;

/** What only some calls need (deadlines, a caller's signal, limiter permits, retries), kept off the hot path. */
export interface TaskExtras {
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  permits: Permit[] | undefined;
  acquireController: AbortController | undefined;
  /** The tool's signal, made on first read of `ctx.signal`. */
  controller: AbortController | undefined;
  /** Why the run was aborted before anyone read `ctx.signal`. */
  abortReason: unknown;
  /** Attempts so far, once a call is retried. */
  attempts: number;
  /** A batch call without an id whose result went out while its tool runs on: its index id. */
  callId: string | undefined;
  /** The call's own `timeoutMs` (ms per attempt), read and checked at submission. */
  timeoutMs: number | undefined;
  /** The call's priority when not 0, read once at submission. */
  priority: number | undefined;
  /** The call's own id, read once at submission. */
  id: string | undefined;
}

/**
 * One submitted call, from submission to its result. Kept to ten small fields (times are integer
 * ticks, so no double is boxed): a queued call costs this object, its promise and nothing else. It is also the `ctx` its tool receives (typed as
 * `ToolContext`, so the rest stays out of sight), which saves an allocation per run.
 */
export class Task implements ToolContext {
  prev: Task | undefined = undefined;
  next: Task | undefined = undefined;
  state = QUEUED;
  /** When the first attempt started, in the scheduler's ticks; -1 before. */
  startedAt = -1;
  extras: TaskExtras | undefined = undefined;

  constructor(
    readonly call: ToolCall,
    readonly lane: Lane,
    /** Submission order, for FIFO across lanes. */
    readonly seq: number,
    /** Submission time in the scheduler's ticks (integers: nothing boxed). */
    readonly queuedAt: number,
    /** Where the result goes; undefined once it went out (a timed-out call may still be running). */
    public sink: ResultSink | undefined,
  ) {}

  /** The call's priority, read once at submission (a getter is never read again); 0 unless it has one. */
  get priority(): number {
    return this.extras?.priority ?? 0;
  }

  /** The call's own id when it is a string, read once at submission. */
  get id(): string | undefined {
    return this.extras?.id;
  }

  get attempts(): number {
    return this.extras?.attempts ?? (this.startedAt < 0 ? 0 : 1);
  }

  extra(): TaskExtras {
    return (this.extras ??= {
      timer: undefined,
      signal: undefined,
      onAbort: undefined,
      permits: undefined,
      acquireController: undefined,
      controller: undefined,
      abortReason: undefined,
      attempts: this.startedAt < 0 ? 0 : 1,
      callId: undefined,
      timeoutMs: undefined,
      priority: undefined,
      id: undefined,
    });
  }

  // ToolContext

  get attempt(): number {
    return this.attempts;
  }

  /** The call's id; for a batch call without one, its index in the batch. */
  get callId(): string {
    return this.id ?? this.extras?.callId ?? indexId(this.sink, this.seq);
  }

  get signal(): AbortSignal {
    const extras = this.extra();
    if (extras.controller === undefined) {
      extras.controller = new AbortController();
      if (extras.abortReason !== undefined) extras.controller.abort(extras.abortReason);
    }
    return extras.controller.signal;
  }
}
