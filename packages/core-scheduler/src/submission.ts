/**
 * Submission: a call checked at the door (every field read once, guarded), then queued in its lane, its
 * queue deadline and its caller's signal armed; or settled at once when it cannot be queued.
 */
import { cancel } from './cancel.js';
import { armQueueTimeout } from './deadline.js';
import type { Dispatcher } from './dispatcher.js';
import { McpConcurrencyError } from './errors.js';
import { cancelledError } from './outcome.js';
import { settleAtOnce } from './settle.js';
import { Task, type ResultSink } from './task.js';
import type { ToolState } from './tool-state.js';
import type { ToolCall } from './types.js';
import { invalidArgument } from './validate.js';

/** Queues a call to a registered tool; returns its task, or undefined when it settled at once. */
export function submit(core: Dispatcher, call: ToolCall, signal: AbortSignal | undefined, sink: ResultSink, seq: number): Task | undefined {
  let name: unknown;
  try {
    name = typeof call === 'object' && call !== null ? call.tool : undefined;
  } catch {
    name = undefined;
  }
  if (typeof name !== 'string') {
    settleAtOnce(core, call, sink, seq, 'rejected', invalidArgument('call', 'an object with a string `tool`', call));
    return undefined;
  }
  if (core.closed) {
    settleAtOnce(core, call, sink, seq, 'rejected', new McpConcurrencyError('closed', 'The scheduler is closed'));
    return undefined;
  }
  const tool = core.tools.get(name);
  if (tool === undefined) {
    settleAtOnce(core, call, sink, seq, 'rejected', unknownTool(core, name));
    return undefined;
  }
  return submitTo(core, tool, call, signal, sink, seq);
}

/** Queues a call to `tool` (registered or not: a wrapped function's tool is not). */
export function submitTo(core: Dispatcher, tool: ToolState, call: ToolCall, signal: AbortSignal | undefined, sink: ResultSink, seq: number): Task | undefined {
  if (core.closed) {
    settleAtOnce(core, call, sink, seq, 'rejected', new McpConcurrencyError('closed', 'The scheduler is closed'));
    return undefined;
  }
  if (signal !== undefined) {
    if (!(signal instanceof AbortSignal)) {
      settleAtOnce(core, call, sink, seq, 'rejected', invalidArgument('signal', 'an AbortSignal', signal));
      return undefined;
    }
    if (signal.aborted) {
      settleAtOnce(core, call, sink, seq, 'cancelled', cancelledError(signal));
      return undefined;
    }
  }
  if (core.queued >= core.maxQueued) {
    const error = new McpConcurrencyError('queue_full', `The queue is full (${core.maxQueued} calls waiting); try again later`);
    settleAtOnce(core, call, sink, seq, 'rejected', error);
    return undefined;
  }
  let priority: unknown;
  let queueTimeoutMs: unknown;
  try {
    priority = call.priority;
    queueTimeoutMs = call.queueTimeoutMs;
  } catch {
    settleAtOnce(core, call, sink, seq, 'rejected', invalidArgument('call', 'a tool call whose fields can be read', call));
    return undefined;
  }
  if (priority !== undefined && !Number.isFinite(priority)) {
    settleAtOnce(core, call, sink, seq, 'rejected', invalidArgument('priority', 'a finite number', priority));
    return undefined;
  }
  const lane = core.keys === undefined ? tool.lane : core.keys.laneFor(tool, call);
  const task = new Task(call, lane, seq, core.time.submitTime(), sink);
  if (lane.keyGate !== undefined) lane.keyGate.users++;
  core.unsettled++;
  core.enqueue(task);
  const observer = core.observer;
  if (observer?.onQueued !== undefined) {
    try {
      observer.onQueued(call);
    } catch {
      // An observer must never change a call's outcome.
    }
  }
  const queueDeadline = (queueTimeoutMs as number | undefined) ?? tool.queueTimeoutMs ?? core.queueTimeoutMs;
  if (queueDeadline !== undefined && queueDeadline !== Infinity) armQueueTimeout(core, task, queueDeadline);
  if (signal !== undefined) {
    const extras = task.extra();
    extras.signal = signal;
    extras.onAbort = () => cancel(core, task, cancelledError(signal));
    signal.addEventListener('abort', extras.onAbort, { once: true });
  }
  core.dispatch();
  return task;
}

function unknownTool(core: Dispatcher, name: string): McpConcurrencyError {
  const known = [...core.tools.keys()];
  const list = known.length === 0 ? 'no tools are registered' : `registered: ${known.slice(0, 20).join(', ')}`;
  return new McpConcurrencyError('unknown_tool', `Unknown tool "${name}" (${list})`);
}
