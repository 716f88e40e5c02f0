/**
 * The dispatch loop: a call's way from submission through its lane to a start, then to its finish,
 * a retry or a cancellation, and out as exactly one settled result.
 */
import { acquire, releasePermits } from './admission.js';
import { armRunTimeout } from './deadline.js';
import type { KeyGates } from './key-gates.js';
import { type Lane, TaskList } from './lane.js';
import { errorInfo, NATIVE_THEN, readThen, statusOf, UNREADABLE, unreadableValue } from './outcome.js';
import { QueueEvents } from './queue-events.js';
import { scheduleRetry } from './retry.js';
import { settle } from './settle.js';
import { Slots } from './slots.js';
import { DONE, QUEUED, RUNNING, Task } from './task.js';
import { TICKS_PER_MS, type TickClock } from './tick-clock.js';
import { ToolState } from './tool-state.js';
import type { Limiter, SchedulerObserver } from './types.js';

/** What the dispatcher is made with (see `SchedulerOptions`, checked by `resolveOptions`). */
export interface DispatcherOptions {
  readonly maxParallel: number;
  readonly maxQueued: number;
  readonly timeoutMs: number | undefined;
  readonly queueTimeoutMs: number | undefined;
  readonly random: () => number;
  readonly time: TickClock;
  readonly keys: KeyGates | undefined;
  readonly paused: boolean;
}

/**
 * The state of one scheduler and the steps that move calls through it. Internal: `Scheduler` is its
 * public face, and the files beside this one (admission, deadlines, retries, lifecycle) act on it.
 */
export class Dispatcher {
  maxParallel: number;
  maxQueued: number;
  timeoutMs: number | undefined;
  queueTimeoutMs: number | undefined;
  readonly random: () => number;
  readonly time: TickClock;
  readonly keys: KeyGates | undefined;
  readonly tools = new Map<string, ToolState>();
  readonly limiters = new Map<string, Limiter>();
  observer: SchedulerObserver | undefined;
  /** Lanes with calls queued, acquiring or ready. */
  readonly active: Lane[] = [];
  readonly retryWaiting = new TaskList();
  readonly slots = new Slots((task, ok, outcome) => this.finish(task, ok, outcome));
  readonly events = new QueueEvents();
  /**
   * One task that lives as long as the scheduler. V8 drops the hidden class of a class's instances
   * once none is alive, and then deoptimizes every function that used it: after an idle spell and a
   * full GC the whole hot path would run unoptimized until it warmed up again (measured: 7% of
   * throughput). Holding one instance keeps the hidden class, and the optimized code, alive.
   */
  readonly shapeKeeper = new Task({ tool: '' }, new ToolState({ name: '(shape)', run: () => undefined }, undefined).lane, -1, 0, undefined);
  /** The call whose tool's synchronous part runs now; one at most, since dispatch does not nest. */
  inSyncRun: Task | undefined;
  running = 0;
  queued = 0;
  unsettled = 0;
  /** Submission order: FIFO within a priority, across lanes. */
  seq = 0;
  dispatching = false;
  paused: boolean;
  closed = false;

  constructor(options: DispatcherOptions) {
    this.maxParallel = options.maxParallel;
    this.maxQueued = options.maxQueued;
    this.timeoutMs = options.timeoutMs;
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.random = options.random;
    this.time = options.time;
    this.keys = options.keys;
    this.paused = options.paused;
  }

  enqueue(task: Task): void {
    task.state = QUEUED;
    this.queued++;
    const lane = task.lane;
    lane.insert(task);
    if (lane.activeIndex < 0) {
      lane.activeIndex = this.active.length;
      this.active.push(lane);
    }
  }

  // Dispatch: start the best runnable calls while global slots are free.

  dispatch(): void {
    // A sync tool settles inside start() and would call back in here; the loop below picks that up.
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      const active = this.active;
      while (this.running < this.maxParallel && active.length > 0 && !this.paused) {
        const lane = active.length === 1 ? runnable(active[0]!) : this.#pick();
        if (lane === undefined) break;
        this.#advance(lane);
      }
    } finally {
      this.dispatching = false;
    }
    if (this.events.waiting) this.events.update(this.queued, this.isIdle());
  }

  /** The runnable lane whose next call has the highest priority, oldest first. O(active lanes). */
  #pick(): Lane | undefined {
    let best: Lane | undefined;
    let bestTask: Task | undefined;
    for (const lane of this.active) {
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
      this.start(task);
    } else {
      task = lane.head!;
      lane.remove(task);
      if (lane.tool.limiters.length === 0) this.start(task);
      else acquire(this, task);
    }
    if (lane.isIdle()) this.deactivate(lane);
  }

  deactivate(lane: Lane): void {
    const index = lane.activeIndex;
    if (index < 0) return;
    const last = this.active.pop()!;
    if (last !== lane) {
      this.active[index] = last;
      last.activeIndex = index;
    }
    lane.activeIndex = -1;
    if (lane.key !== undefined) lane.tool.keyed.delete(lane.key);
  }

  // Running

  start(task: Task): void {
    const tool = task.lane.tool;
    this.queued--;
    this.running++;
    tool.running++;
    if (task.lane.keyGate !== undefined) task.lane.keyGate.running++;
    task.state = RUNNING;
    const extras = task.extras;
    const now = this.time.now();
    if (task.startedAt < 0) task.startedAt = now;
    if (extras !== undefined) extras.attempts++;
    const attempt = task.attempts;
    if (extras?.timer !== undefined) {
      clearTimeout(extras.timer);
      extras.timer = undefined;
    }
    const observer = this.observer;
    if (observer?.onStart !== undefined) {
      try {
        observer.onStart(task.call, (now - task.queuedAt) / TICKS_PER_MS, attempt);
      } catch {
        // An observer must never change a call's outcome.
      }
    }
    const timeoutMs = extras?.timeoutMs ?? tool.timeoutMs ?? this.timeoutMs;
    if (timeoutMs !== undefined && timeoutMs !== Infinity) armRunTimeout(this, task, timeoutMs);

    let value: unknown;
    this.inSyncRun = task;
    try {
      // Inside the try: a `params` getter that throws is the call's failure, like the tool's own throw.
      value = tool.tool.run(task.call.params, task);
    } catch (error) {
      this.inSyncRun = undefined;
      this.finish(task, false, error);
      return;
    }
    this.inSyncRun = undefined;
    // The tool's synchronous part may have taken a while: the next reading goes to the clock.
    this.time.staleAll();
    const then = readThen(value);
    if (then === undefined) this.finish(task, true, value);
    else if (then === UNREADABLE) this.finish(task, false, unreadableValue(tool.name));
    else {
      const slot = this.slots.take(task, then === NATIVE_THEN);
      try {
        then.call(value, slot.ok, slot.err);
      } catch (error) {
        // Heard only when the thenable has not called back already.
        slot.err(error);
      }
    }
  }

  finish(task: Task, ok: boolean, outcome: unknown): void {
    this.time.stale();
    this.running--;
    task.lane.tool.running--;
    const keyGate = task.lane.keyGate;
    if (keyGate !== undefined) keyGate.running--;
    const extras = task.extras;
    if (extras !== undefined) {
      releasePermits(extras.permits);
      if (extras.timer !== undefined) {
        clearTimeout(extras.timer);
        extras.timer = undefined;
      }
    }
    if (task.sink === undefined) {
      // Its result went out on timeout or cancellation; now its slots are free too.
      task.state = DONE;
      this.keys?.release(task);
    } else if (ok) {
      task.state = DONE;
      settle(this, task, 'ok', outcome, undefined, undefined);
    } else if (!scheduleRetry(this, task, outcome)) {
      task.state = DONE;
      const info = errorInfo(outcome);
      settle(this, task, statusOf(info.code), undefined, info, outcome);
    }
    this.dispatch();
  }

  /** Calls an observer hook; an observer must never change a call's outcome. */
  notify(hook: () => void): void {
    try {
      hook();
    } catch {
      // ignored, as above
    }
  }

  isIdle(): boolean {
    return this.unsettled === 0 && this.running === 0 && this.retryWaiting.size === 0;
  }
}

function runnable(lane: Lane): Lane | undefined {
  const gate = lane.tool;
  if (gate.running >= gate.limit) return undefined;
  const keyGate = lane.keyGate;
  if (keyGate !== undefined && keyGate.running >= keyGate.limit) return undefined;
  return lane.candidate() === undefined ? undefined : lane;
}
