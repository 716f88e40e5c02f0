/**
 * Submitting tool calls: one (`run`), a batch (one promise for all, results in input order) and a
 * graph; a batch or a graph with a signal has one abort listener for all its calls.
 */
import { cancel } from './cancel.js';
import type { Dispatcher } from './dispatcher.js';
import { runGraph as runPlannedGraph } from './graph.js';
import { cancelledError } from './outcome.js';
import { emitSettled } from './settle.js';
import { submit } from './submission.js';
import { BatchResults, type Task } from './task.js';
import type { ToolCall, ToolResult } from './types.js';
import { invalidArgument } from './validate.js';

// `new Promise(capture)` hands its resolve function over without allocating an executor closure
// per call. The slot holds it only for the length of one synchronous statement.
let captured: ((result: ToolResult) => void) | undefined;
const capture = (resolve: (result: ToolResult) => void): void => {
  captured = resolve;
};

/** Submits one call; returns its result's promise and its task (undefined when it settled at once). */
function submitOne(core: Dispatcher, call: ToolCall, signal: AbortSignal | undefined): [Promise<ToolResult>, Task | undefined] {
  const promise = new Promise<ToolResult>(capture);
  const resolve = captured!;
  captured = undefined;
  return [promise, submit(core, call, signal, resolve, core.seq++)];
}

/** One call; resolves with its result, never rejects. */
export function runOne(core: Dispatcher, call: ToolCall, signal: AbortSignal | undefined): Promise<ToolResult> {
  const promise = new Promise<ToolResult>(capture);
  const resolve = captured!;
  captured = undefined;
  submit(core, call, signal, resolve, core.seq++);
  return promise;
}

/** True when any call has dependencies; a call whose fields cannot be read counts as none (it is refused later). */
function hasDependencies(calls: readonly ToolCall[]): boolean {
  for (const call of calls) {
    try {
      if (call?.dependsOn !== undefined && call.dependsOn.length > 0) return true;
    } catch {
      // refused at submission
    }
  }
  return false;
}

/** All calls, results in input order; a call without an id is known by its index. One promise for the batch. */
export function runBatch(core: Dispatcher, calls: readonly ToolCall[], signal: AbortSignal | undefined): Promise<ToolResult[]> {
  if (!Array.isArray(calls)) return Promise.reject(invalidArgument('calls', 'an array of tool calls', calls));
  if (hasDependencies(calls)) return runGraph(core, calls, signal);
  if (calls.length === 0) return Promise.resolve([]);
  // The batch's calls take consecutive submission numbers, reserved up front (a key function or an
  // observer could submit other calls meanwhile): each result finds its slot from its number.
  const firstSeq = core.seq;
  core.seq += calls.length;
  let batch!: BatchResults;
  const all = new Promise<ToolResult[]>((resolve) => (batch = new BatchResults(calls.length, firstSeq, resolve)));
  // With a signal, one listener for the whole batch: a listener per call would make every removal
  // walk thousands of others (EventTarget keeps a list).
  const batchSignal = signal !== undefined && signal instanceof AbortSignal && !signal.aborted && calls.length > 1;
  const tasks: Task[] = [];
  for (let i = 0; i < calls.length; i++) {
    const task = submit(core, calls[i]!, batchSignal ? undefined : signal, batch, firstSeq + i);
    if (batchSignal && task !== undefined) tasks.push(task);
  }
  if (!batchSignal) return all;
  const onAbort = (): void => {
    const error = cancelledError(signal);
    for (const task of tasks) cancel(core, task, error);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return all.finally(() => signal.removeEventListener('abort', onAbort));
}

/** A dependency graph: each call starts as soon as its own dependencies settle. */
export function runGraph(core: Dispatcher, calls: readonly ToolCall[], signal: AbortSignal | undefined): Promise<ToolResult[]> {
  const emit = (result: ToolResult, call: ToolCall): void => emitSettled(core, result, call);
  if (signal === undefined || !(signal instanceof AbortSignal) || signal.aborted) {
    return runPlannedGraph(calls, (call) => runOne(core, call, signal), emit);
  }
  // One abort listener for the whole graph: it cancels the calls still live, and a call submitted
  // after the abort settles as cancelled at once.
  const live = new Set<Task>();
  const onAbort = (): void => {
    const error = cancelledError(signal);
    for (const task of live) cancel(core, task, error);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const submit = (call: ToolCall): Promise<ToolResult> => {
    if (signal.aborted) return runOne(core, call, signal);
    const [promise, task] = submitOne(core, call, undefined);
    if (task === undefined) return promise;
    live.add(task);
    return promise.then((result) => {
      live.delete(task);
      return result;
    });
  };
  return runPlannedGraph(calls, submit, emit).finally(() => signal.removeEventListener('abort', onAbort));
}
