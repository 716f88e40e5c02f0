import type { Lane } from './lane.js';
import type { Permit, ToolCall, ToolContext, ToolResult } from './types.js';

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
    /** Undefined once the result went out (a timed-out call may still be running). */
    public resolve: ((result: ToolResult) => void) | undefined,
  ) {}

  get priority(): number {
    return this.call.priority ?? 0;
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
    });
  }

  // ToolContext

  get attempt(): number {
    return this.attempts;
  }

  get callId(): string {
    return this.call.id ?? '';
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
