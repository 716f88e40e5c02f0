/** Cancelling calls: one in any state (its caller's signal, a deadline), or all that wait or run (`clear()`, `close()`). */
import { releasePermits } from './admission.js';
import type { Dispatcher } from './dispatcher.js';
import type { McpConcurrencyError } from './errors.js';
import { statusOf } from './outcome.js';
import { settle } from './settle.js';
import { ACQUIRING, DONE, QUEUED, READY, RETRY_WAIT, RUNNING, type Task } from './task.js';
import type { ToolErrorInfo } from './types.js';

/** Cancels a call in any state with `error` (code `cancelled`, `timeout`, `queue_timeout` or `closed`). */
export function cancel(core: Dispatcher, task: Task, error: McpConcurrencyError): void {
  if (task.sink === undefined) return;
  core.time.stale();
  switch (task.state) {
    case QUEUED:
      task.lane.remove(task);
      core.queued--;
      if (task.lane.isIdle()) core.deactivate(task.lane);
      break;
    case ACQUIRING:
      core.queued--;
      task.extras!.acquireController!.abort(error);
      // Freed now, not when the limiter answers: a limiter that ignores the abort must not hold the lane.
      // A permit it grants later is released by the acquisition's handler (the call has no sink then).
      releasePermits(task.extras!.permits);
      if (task.lane.acquiring === task) task.lane.acquiring = undefined;
      if (task.lane.isIdle()) core.deactivate(task.lane);
      break;
    case READY:
      task.lane.ready = undefined;
      core.queued--;
      releasePermits(task.extras!.permits);
      if (task.lane.isIdle()) core.deactivate(task.lane);
      break;
    case RETRY_WAIT:
      core.retryWaiting.remove(task);
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
  settle(core, task, statusOf(error.code), undefined, info, error);
  if (task.state !== RUNNING) {
    task.state = DONE;
    core.dispatch();
  }
}

/** Cancels every call that has not started (queued, waiting for limiters or for a retry); `only` picks some. */
export function cancelWaiting(core: Dispatcher, error: McpConcurrencyError, only?: (task: Task) => boolean): void {
  const waiting: Task[] = [];
  for (const lane of core.active) {
    for (const task of [lane.ready, lane.acquiring]) if (task !== undefined) waiting.push(task);
    for (let task = lane.head; task !== undefined; task = task.next) waiting.push(task);
  }
  for (let task = core.retryWaiting.head; task !== undefined; task = task.next) waiting.push(task);
  for (const task of waiting) if (only === undefined || only(task)) cancel(core, task, error);
}

/** Aborts the signals of running calls and settles them with `error`; `only` picks some. */
export function cancelRunning(core: Dispatcher, error: McpConcurrencyError, only?: (task: Task) => boolean): void {
  const running = core.slots.tasks();
  if (core.inSyncRun !== undefined) running.push(core.inSyncRun);
  for (const task of running) if (task.sink !== undefined && (only === undefined || only(task))) cancel(core, task, error);
}

