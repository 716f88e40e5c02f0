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
import { invalidArgument, signalState } from './validate.js';

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
  for (let i = 0; i < calls.length; i++) {
    try {
      const call = calls[i];
      if (call?.dependsOn !== undefined && call.dependsOn.length > 0) return true;
    } catch {
      // refused at submission
    }
  }
  return false;
}

/** `calls[i]`, or `undefined` when reading it throws (an array behind a proxy): submission refuses it, known by its index. */
function callAt(calls: readonly ToolCall[], i: number): ToolCall {
  try {
    return calls[i]!;
  } catch {
    return undefined as unknown as ToolCall;
  }
}

/**
 * Submits every call of a batch without a signal of its own (the hot path: one try around the loop, not one
 * per call). A read of `calls[i]` that throws (an array behind a proxy) submits `undefined` in its place,
 * refused and known by its index, and the loop goes on.
 */
function submitAll(core: Dispatcher, calls: readonly ToolCall[], signal: AbortSignal | undefined, batch: BatchResults, firstSeq: number): void {
  const n = calls.length;
  let i = 0;
  let reading = false;
  for (;;) {
    try {
      for (; i < n; i++) {
        reading = true;
        const call = calls[i]!;
        reading = false;
        submit(core, call, signal, batch, firstSeq + i);
      }
      return;
    } catch (error) {
      if (!reading) throw error;
      reading = false;
      submit(core, undefined as unknown as ToolCall, signal, batch, firstSeq + i);
      i++;
    }
  }
}

/** All calls, results in input order; a call without an id is known by its index. One promise for the batch. */
export function runBatch(core: Dispatcher, calls: readonly ToolCall[], signal: AbortSignal | undefined): Promise<ToolResult[]> {
  try {
    if (!Array.isArray(calls)) return Promise.reject(invalidArgument('calls', 'an array of tool calls', calls));
  } catch {
    // A revoked proxy.
    return Promise.reject(invalidArgument('calls', 'an array of tool calls', calls));
  }
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
  const batchSignal = calls.length > 1 && signalState(signal) === 'live';
  if (!batchSignal) {
    submitAll(core, calls, signal, batch, firstSeq);
    return all;
  }
  const tasks: Task[] = [];
  const onAbort = (): void => {
    const error = cancelledError(signal!);
    for (const task of tasks) cancel(core, task, error);
  };
  // Listening before the first call is submitted: a tool's synchronous part may abort the signal.
  signal!.addEventListener('abort', onAbort, { once: true });
  for (let i = 0; i < calls.length; i++) {
    // Once aborted, the rest are submitted with the signal itself: each settles cancelled at once.
    const task = submit(core, callAt(calls, i), signal!.aborted ? signal : undefined, batch, firstSeq + i);
    if (task === undefined) continue;
    // Aborted while this very call was submitted (its tool started and aborted it): the listener ran before it was listed.
    if (signal!.aborted) cancel(core, task, cancelledError(signal!));
    else tasks.push(task);
  }
  return all.finally(() => signal!.removeEventListener('abort', onAbort));
}

/** A dependency graph: each call starts as soon as its own dependencies settle. */
export function runGraph(core: Dispatcher, calls: readonly ToolCall[], signal: AbortSignal | undefined): Promise<ToolResult[]> {
  const emit = (result: ToolResult, call: ToolCall): void => emitSettled(core, result, call);
  if (signalState(signal) !== 'live') {
    return runPlannedGraph(calls, (call) => runOne(core, call, signal), emit);
  }
  // One abort listener for the whole graph: it cancels the calls still live, and a call submitted
  // after the abort settles as cancelled at once.
  const live = new Set<Task>();
  const onAbort = (): void => {
    const error = cancelledError(signal!);
    for (const task of live) cancel(core, task, error);
  };
  signal!.addEventListener('abort', onAbort, { once: true });
  const submit = (call: ToolCall): Promise<ToolResult> => {
    if (signal!.aborted) return runOne(core, call, signal);
    const [promise, task] = submitOne(core, call, undefined);
    if (task === undefined) return promise;
    // Aborted while this call was submitted (its tool's synchronous part did it): cancelled like the rest.
    if (signal!.aborted) {
      cancel(core, task, cancelledError(signal!));
      return promise;
    }
    live.add(task);
    return promise.then((result) => {
      live.delete(task);
      return result;
    });
  };
  return runPlannedGraph(calls, submit, emit).finally(() => signal!.removeEventListener('abort', onAbort));
}
