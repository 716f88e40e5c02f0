/** Settling: the one `ToolResult` of a call, built, shown to observers and handed to its sink. */
import type { Dispatcher } from './dispatcher.js';
import type { McpConcurrencyError } from './errors.js';
import { deliver, FunctionCall, indexId, RUNNING, type ResultSink, type Task } from './task.js';
import { TICKS_PER_MS } from './tick-clock.js';
import type { ToolCall, ToolErrorInfo, ToolResult, ToolStatus } from './types.js';

/** Sends out a call's result; its slots and key stay held while its tool still runs. */
export function settle(core: Dispatcher, task: Task, status: ToolStatus, value: unknown, error: ToolErrorInfo | undefined, failure: unknown): void {
  const sink = task.sink!;
  task.sink = undefined;
  core.unsettled--;
  if (task.state !== RUNNING) core.keys?.release(task);
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
  const observer = core.observer;
  if (observer?.onSettled === undefined && sink instanceof FunctionCall) {
    // Nobody reads a ToolResult: the function's promise settles without one.
    sink.settle(status === 'ok', value, failure);
    return;
  }
  const now = core.time.now();
  const startedAt = task.startedAt;
  const result: ToolResult = {
    id: task.id ?? indexId(sink, task.seq),
    tool: task.lane.tool.name,
    status,
    value,
    error,
    queuedMs: ((startedAt < 0 ? now : startedAt) - task.queuedAt) / TICKS_PER_MS,
    runMs: startedAt < 0 ? 0 : (now - startedAt) / TICKS_PER_MS,
    attempts: task.attempts,
  };
  emitSettled(core, result, task.call);
  deliver(sink, task.seq, result, failure);
}

/** Settles a call that never entered the queue. */
export function settleAtOnce(core: Dispatcher, call: unknown, sink: ResultSink, seq: number, status: ToolStatus, error: McpConcurrencyError): void {
  let id: unknown;
  let tool: unknown;
  const given = typeof call === 'object' && call !== null ? (call as ToolCall) : undefined;
  try {
    const c = (given ?? {}) as Partial<ToolCall>;
    id = c.id;
    tool = c.tool;
  } catch {
    // An unreadable call: known by its index.
  }
  const result: ToolResult = {
    id: typeof id === 'string' ? id : indexId(sink, seq),
    tool: typeof tool === 'string' ? tool : '',
    status,
    value: undefined,
    error: { code: error.code, message: error.message },
    queuedMs: 0,
    runMs: 0,
    attempts: 0,
  };
  emitSettled(core, result, given);
  deliver(sink, seq, result, error);
}

/** `call` is the object `onQueued` saw, so an observer can pair a call's hooks (undefined: not an object). */
export function emitSettled(core: Dispatcher, result: ToolResult, call: ToolCall | undefined): void {
  const observer = core.observer;
  if (observer?.onSettled !== undefined) {
    try {
      observer.onSettled(result, call);
    } catch {
      // An observer must never change a call's outcome.
    }
  }
}

