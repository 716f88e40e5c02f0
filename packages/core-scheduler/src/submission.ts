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
import { FunctionCall, QUEUED, Task, type FunctionCallOptions, type ResultSink } from './task.js';
import type { ToolState } from './tool-state.js';
import type { ToolCall } from './types.js';
import { invalidArgument, signalState } from './validate.js';
import { optionalPositive } from './options.js';

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

/** True when the call is settled at the door: the scheduler is closed, or its signal is not one or has aborted. */
function refusedAtDoor(core: Dispatcher, call: ToolCall, signal: AbortSignal | undefined, sink: ResultSink, seq: number): boolean {
  if (core.closed) {
    settleAtOnce(core, call, sink, seq, 'rejected', new McpConcurrencyError('closed', 'The scheduler is closed'));
    return true;
  }
  if (signal === undefined) return false;
  const state = signalState(signal);
  if (state === 'invalid') {
    settleAtOnce(core, call, sink, seq, 'rejected', invalidArgument('signal', 'an AbortSignal', signal));
    return true;
  }
  if (state === 'aborted') {
    settleAtOnce(core, call, sink, seq, 'cancelled', cancelledError(signal));
    return true;
  }
  return false;
}

/** Queues a call of `add()` or a wrapped function: its options were read and checked already (`FunctionCall.options`). */
export function submitFunction(core: Dispatcher, tool: ToolState, call: FunctionCall, signal: AbortSignal | undefined, seq: number): void {
  if (!refusedAtDoor(core, call, signal, call, seq)) enqueueCall(core, tool, call, signal, call, seq, call.options);
}

/** Queues a call to `tool` (registered or not). */
export function submitTo(core: Dispatcher, tool: ToolState, call: ToolCall, signal: AbortSignal | undefined, sink: ResultSink, seq: number): Task | undefined {
  if (refusedAtDoor(core, call, signal, sink, seq)) return undefined;
  // Every field the scheduler uses later is read here, once, guarded: a getter is never read again.
  let priority: unknown;
  let queueTimeoutMs: unknown;
  let timeoutMs: unknown;
  let id: unknown;
  try {
    priority = call.priority;
    queueTimeoutMs = call.queueTimeoutMs;
    timeoutMs = call.timeoutMs;
    id = call.id;
  } catch {
    settleAtOnce(core, call, sink, seq, 'rejected', invalidArgument('call', 'a tool call whose fields can be read', call));
    return undefined;
  }
  if (priority !== undefined || timeoutMs !== undefined || queueTimeoutMs !== undefined) {
    const refused = checkCallFields(priority, timeoutMs, queueTimeoutMs);
    if (refused !== undefined) {
      settleAtOnce(core, call, sink, seq, 'rejected', refused);
      return undefined;
    }
  }
  // A call with none of them (the common call) allocates nothing for them.
  const fields =
    priority === undefined && timeoutMs === undefined && queueTimeoutMs === undefined && typeof id !== 'string'
      ? undefined
      : { priority: priority as number | undefined, timeoutMs: timeoutMs as number | undefined, queueTimeoutMs: queueTimeoutMs as number | undefined, id: typeof id === 'string' ? id : undefined };
  return enqueueCall(core, tool, call, signal, sink, seq, fields);
}

/** Queues a call whose fields have been read and checked (`fields`: undefined when it has none), and dispatches. */
function enqueueCall(core: Dispatcher, tool: ToolState, call: ToolCall, signal: AbortSignal | undefined, sink: ResultSink, seq: number, fields: FunctionCallOptions | undefined): Task | undefined {
  const full = core.queued >= core.maxQueued;
  const lane = core.keys === undefined ? tool.lane : core.keys.laneFor(tool, call);
  const task = new Task(call, lane, seq, core.time.submitTime(), sink);
  // What only some calls have lives in the task's extras: a call with none costs the ten fields of a task.
  if (fields !== undefined) {
    if (fields.timeoutMs !== undefined) task.extra().timeoutMs = fields.timeoutMs;
    if (fields.priority !== undefined && fields.priority !== 0) task.extra().priority = fields.priority;
    if (fields.id !== undefined) task.extra().id = fields.id;
  }
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
  const queueDeadline = fields?.queueTimeoutMs ?? tool.queueTimeoutMs ?? core.queueTimeoutMs;
  if (queueDeadline !== undefined && queueDeadline !== Infinity) armQueueTimeout(core, task, queueDeadline);
  if (signal !== undefined) {
    const extras = task.extra();
    extras.signal = signal;
    extras.onAbort = () => cancel(core, task, cancelledError(signal));
    signal.addEventListener('abort', extras.onAbort, { once: true });
  }
  // Submitted from inside the dispatch loop (a tool's synchronous part, an observer): that loop starts it if it
  // can, so it is not refused for a full queue here.
  const nested = core.dispatching;
  core.dispatch();
  // A full queue refuses a call only when it has to wait: one that could start at once has started.
  if (full && !nested && task.state === QUEUED && task.sink !== undefined) {
    cancel(core, task, new McpConcurrencyError('queue_full', `The queue is full (${core.maxQueued} ${core.maxQueued === 1 ? 'call' : 'calls'} waiting); try again later`));
    return undefined;
  }
  return task;
}

/** Why a call's own priority or deadlines are refused (`invalid_argument`), or `undefined`. */
function checkCallFields(priority: unknown, timeoutMs: unknown, queueTimeoutMs: unknown): McpConcurrencyError | undefined {
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) return invalidArgument('priority', 'a finite number', priority);
  try {
    optionalPositive('timeoutMs', timeoutMs);
    optionalPositive('queueTimeoutMs', queueTimeoutMs);
  } catch (error) {
    return error as McpConcurrencyError;
  }
  return undefined;
}

function unknownTool(core: Dispatcher, name: string): McpConcurrencyError {
  const known = [...core.tools.keys()];
  const list = known.length === 0 ? 'no tools are registered' : `registered: ${known.slice(0, 20).join(', ')}`;
  return new McpConcurrencyError('unknown_tool', `Unknown tool "${name}" (${list})`);
}
