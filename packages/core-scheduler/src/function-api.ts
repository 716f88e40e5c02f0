/**
 * The function API, for p-limit, p-queue and Bottleneck users: `add(fn)` runs a plain function and
 * `wrap(fn)` makes a limited one, under the same limits, priorities, deadlines and observers as tools.
 */
import type { Dispatcher } from './dispatcher.js';
import { checkAddKeys, checkWrapKeys, optionalPositive, type AddOptions, type WrapPolicy } from './options.js';
import { submitFunction } from './submission.js';
import { isCoded } from './outcome.js';
import { FunctionCall, type FunctionCallOptions } from './task.js';
import { ToolState } from './tool-state.js';
import type { ToolContext } from './types.js';
import { checkFunction, checkNonEmptyString, checkSignal, invalidArgument } from './validate.js';

/** A function `add()` runs: it gets the call's context (`signal`, `attempt`, `callId`). */
export type QueuedFunction<R> = (ctx: ToolContext) => R | PromiseLike<R>;

// As in `run()`: `new Promise(capture)` hands the resolve function over without an executor closure per
// call. Only resolve is kept (see FunctionCall): failures resolve it with a rejected promise.
let resolved: ((value: unknown) => void) | undefined;
const capture = (resolve: (value: unknown) => void): void => {
  resolved = resolve;
};

/** The tool behind `add()`: it calls the function it is given as params. Not registered, so no call by name reaches it. */
export function functionTool(): ToolState {
  return new ToolState({ name: 'function', run: (fn, ctx) => (fn as QueuedFunction<unknown>)(ctx) }, undefined);
}

/** Runs `fn` under the global limits; resolves with its value, rejects with what it threw. */
export function addFunction<R>(core: Dispatcher, tool: ToolState, fn: QueuedFunction<R>, options: AddOptions | undefined): Promise<R> {
  if (typeof fn !== 'function') return Promise.reject(invalidArgument('fn', 'a function', fn));
  let signal: AbortSignal | undefined;
  // The options as they are now, read once: changing the object afterwards (a loop reusing it) changes nothing.
  let own: FunctionCallOptions | undefined;
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null) return Promise.reject(invalidArgument('options', 'an options object', options));
    try {
      checkAddKeys(options);
      signal = options.signal;
      const { id, priority, timeoutMs, queueTimeoutMs } = options;
      optionalPositive('timeoutMs', timeoutMs);
      optionalPositive('queueTimeoutMs', queueTimeoutMs);
      if (id !== undefined) checkNonEmptyString('id', id);
      if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) throw invalidArgument('priority', 'a finite number', priority);
      own = { id, priority, timeoutMs, queueTimeoutMs };
    } catch (error) {
      return Promise.reject(isCoded(error) ? error : invalidArgument('options', 'an options object whose fields can be read', options));
    }
  }
  const promise = new Promise<unknown>(capture);
  const call = new FunctionCall('function', fn, own, resolved!);
  resolved = undefined;
  submitFunction(core, tool, call, signal, core.seq++);
  return promise as Promise<R>;
}

/**
 * A function that runs `fn` under `policy` (its own `maxParallel`, limiters, retries, deadlines) and the
 * scheduler's global limits: Bottleneck's `wrap()`, p-limit's `limitFunction()`. Throws `invalid_argument`
 * for a bad `fn` or policy, or a policy key it does not know (p-limit's `concurrency` is `maxParallel` here).
 */
export function wrapFunction<A extends unknown[], R>(
  core: Dispatcher,
  fn: (...args: A) => R | PromiseLike<R>,
  policy: WrapPolicy = {},
): (...args: A) => Promise<R> {
  checkFunction('fn', fn);
  if (typeof policy !== 'object' || policy === null) throw invalidArgument('policy', 'a policy object', policy);
  try {
    checkWrapKeys(policy);
  } catch (error) {
    throw isCoded(error) ? error : invalidArgument('policy', 'a policy object whose keys can be read', policy);
  }
  const name = policy.name ?? (fn.name || 'function');
  checkNonEmptyString('policy.name', name);
  const signal = policy.signal;
  checkSignal('policy.signal', signal);
  // The params of a wrapped call: the `this` it was called with and its arguments (Bottleneck's `wrap` keeps `this`).
  const tool = new ToolState({ name, run: (params) => fn.apply((params as WrappedCall<A>).self, (params as WrappedCall<A>).args) }, policy);
  return function (this: unknown, ...args: A): Promise<R> {
    const promise = new Promise<unknown>(capture);
    const resolve = resolved!;
    resolved = undefined;
    const call = new FunctionCall(name, { self: this, args } satisfies WrappedCall<A>, undefined, resolve);
    submitFunction(core, tool, call, signal, core.seq++);
    return promise as Promise<R>;
  };
}

/** One call of a wrapped function: its `this` and its arguments. */
interface WrappedCall<A extends unknown[]> {
  readonly self: unknown;
  readonly args: A;
}
