/** Deadlines: a queue deadline settles a waiting call as `timeout` / `queue_timeout`; a run deadline aborts the tool's signal. */
import { cancel } from './cancel.js';
import type { Dispatcher } from './dispatcher.js';
import { McpConcurrencyError } from './errors.js';
import { RUNNING, type Task } from './task.js';

/** Arms the run deadline of an attempt; its result goes out at once, its slot stays held until the tool returns. */
export function armRunTimeout(core: Dispatcher, task: Task, ms: number): void {
  const extras = task.extra();
  extras.timer = setTimeout(() => {
    extras.timer = undefined;
    if (task.state !== RUNNING || task.sink === undefined) return;
    const tool = task.lane.tool.name;
    const error = new McpConcurrencyError(
      'timeout',
      task.callId === ''
        ? `A call of tool "${tool}" did not finish within ${ms} ms; its signal was aborted`
        : `Tool "${tool}" did not finish call "${task.callId}" within ${ms} ms; its signal was aborted`,
    );
    cancel(core, task, error);
  }, ms);
}

/** Arms the queue deadline of a call just submitted; starting clears it. */
export function armQueueTimeout(core: Dispatcher, task: Task, ms: number): void {
  task.extra().timer = setTimeout(() => {
    if (task.state === RUNNING || task.sink === undefined) return;
    const error = new McpConcurrencyError('queue_timeout', `${callOf(task)} waited ${ms} ms in the queue without starting`);
    cancel(core, task, error);
  }, ms);
}

/** `Call "7" of tool "search"`, or `A call of tool "function"` for a call without an id (`add()` without `id`). */
function callOf(task: Task): string {
  const tool = task.lane.tool.name;
  return task.callId === '' ? `A call of tool "${tool}"` : `Call "${task.callId}" of tool "${tool}"`;
}
