/** The options of `Scheduler`, its methods and the function API, and their validation at the door. */
import { checkMaxPerKey, keyRequired, type MaxPerKey } from './key-gates.js';
import { defaultClock } from './tick-clock.js';
import { McpConcurrencyError } from './errors.js';
import type { Clock, Limiter, SchedulerObserver, Tool, ToolCall, ToolPolicy } from './types.js';
import { checkDeadline, checkFunction, checkNonNegativeInteger, checkPositiveInteger, invalidArgument } from './validate.js';

export interface SchedulerOptions {
  /** Calls running at once, across all tools. @default 10 @example maxParallel: 32 */
  readonly maxParallel?: number;
  /** Calls waiting at once; one more settles at once as `rejected` with code `queue_full`. @default Infinity */
  readonly maxQueued?: number;
  /** The tools this scheduler runs; more can be added with `register()`. @default [] */
  readonly tools?: readonly Tool[];
  /** Policies by tool name; they override each tool's own `policy`. @example { search: { maxParallel: 2 } } */
  readonly policies?: Readonly<Record<string, ToolPolicy>>;
  /** Named limiters that tool policies refer to. @example { default: bucket50, api_calls: bucket10 } */
  readonly limiters?: Readonly<Record<string, Limiter>>;
  /** The key of a call for per-key limits (a tenant, a session, an origin); `undefined` for no key. */
  readonly key?: (call: ToolCall) => string | undefined;
  /**
   * Calls with the same key running at once, across tools; a function gives each key its own limit
   * (e.g. 1 for `resource:...` keys, 4 for `session:...` keys). Needs `key`. @default Infinity
   */
  readonly maxPerKey?: number | ((key: string) => number);
  /** Run deadline in ms for tools without their own. @default none */
  readonly timeoutMs?: number;
  /** Queue deadline in ms for tools without their own. @default none */
  readonly queueTimeoutMs?: number;
  /** Observers for metrics, logs and traces. @default [] */
  readonly observers?: readonly SchedulerObserver[];
  /** A monotonic millisecond clock. @default performance.now */
  readonly clock?: Clock;
  /** Source of randomness for retry jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Start paused: calls queue up until `resume()`. @default false */
  readonly paused?: boolean;
}

export interface RunOptions {
  /** Cancels the call: a queued call leaves the queue at once, a running one has its signal aborted. */
  readonly signal?: AbortSignal;
}

/** Options of one `add(fn)` call (p-queue's `add` options, plus deadlines). */
export interface AddOptions extends RunOptions {
  /** Higher runs first; FIFO within a priority. @default 0 */
  readonly priority?: number;
  /** Run deadline in ms; it aborts `fn`'s signal and rejects with code `timeout`. @default the scheduler's `timeoutMs` */
  readonly timeoutMs?: number;
  /** Queue deadline in ms; rejects with code `queue_timeout`. @default the scheduler's `queueTimeoutMs` */
  readonly queueTimeoutMs?: number;
  /** The call's id, as observers and `ctx.callId` see it. @default '' */
  readonly id?: string;
}

/** The policy of a function made by `wrap(fn, policy)`: a tool policy, plus a name for observers. */
export interface WrapPolicy extends ToolPolicy {
  /** The `tool` name observers see for its calls. @default fn.name, else 'function' */
  readonly name?: string;
  /** Cancels every call of the wrapped function still queued or running. */
  readonly signal?: AbortSignal;
}

/** `SchedulerOptions` checked, with defaults filled in. */
export interface ResolvedOptions {
  readonly maxParallel: number;
  readonly maxQueued: number;
  readonly key: ((call: ToolCall) => string | undefined) | undefined;
  readonly maxPerKey: MaxPerKey;
  readonly timeoutMs: number | undefined;
  readonly queueTimeoutMs: number | undefined;
  readonly observers: SchedulerObserver[];
  readonly clock: Clock;
  readonly random: () => number;
  readonly paused: boolean;
}

/** The keys of each options object, and what to use here for the names p-queue, p-limit and Bottleneck users type. */
const SCHEDULER_KEYS: ReadonlySet<string> = new Set<keyof SchedulerOptions>([
  'maxParallel', 'maxQueued', 'tools', 'policies', 'limiters', 'key', 'maxPerKey', 'timeoutMs', 'queueTimeoutMs',
  'observers', 'clock', 'random', 'paused',
]);
const ADD_KEYS: ReadonlySet<string> = new Set<keyof AddOptions>(['signal', 'priority', 'timeoutMs', 'queueTimeoutMs', 'id']);
const WRAP_KEYS: ReadonlySet<string> = new Set<keyof WrapPolicy>([
  'maxParallel', 'limiters', 'cost', 'timeoutMs', 'queueTimeoutMs', 'retry', 'name', 'signal',
]);

const RATE_LIMIT = 'a rate limit is a named limiter here (e.g. a TokenBucket from @mcp-concurrency/limiter-token-bucket)';
const SCHEDULER_HINTS: Readonly<Record<string, string>> = {
  concurrency: 'use `maxParallel` (p-queue and p-limit call it `concurrency`)',
  maxConcurrent: 'use `maxParallel` (Bottleneck calls it `maxConcurrent`)',
  autoStart: 'use `paused: true` for p-queue\'s `autoStart: false`, and `resume()` to start',
  timeout: 'use `timeoutMs` (a run deadline in ms; it aborts the call\'s signal and rejects with code `timeout`)',
  throwOnTimeout: 'drop it: a call past its `timeoutMs` always settles with code `timeout`',
  intervalCap: `${RATE_LIMIT}: pass it in \`limiters\` and name it in a tool's policy (\`limiters: ['api']\`)`,
  interval: `${RATE_LIMIT}: pass it in \`limiters\` and name it in a tool's policy (\`limiters: ['api']\`)`,
  minTime: `${RATE_LIMIT}: pass it in \`limiters\` and name it in a tool's policy (\`limiters: ['api']\`)`,
  reservoir: `${RATE_LIMIT}: pass it in \`limiters\` and name it in a tool's policy (\`limiters: ['api']\`)`,
  reservoirRefreshAmount: `${RATE_LIMIT}: pass it in \`limiters\` and name it in a tool's policy (\`limiters: ['api']\`)`,
  reservoirRefreshInterval: `${RATE_LIMIT}: pass it in \`limiters\` and name it in a tool's policy (\`limiters: ['api']\`)`,
  highWater: 'use `maxQueued` (one more call that must wait settles with code `queue_full`)',
  carryoverConcurrencyCount: 'drop it: `maxParallel` counts running calls, and rate limits are limiters',
  rejectOnClear: 'drop it: `clear()` always rejects the `add()` promises it cancels, with code `cancelled`',
};
const ADD_HINTS: Readonly<Record<string, string>> = {
  timeout: 'use `timeoutMs` (a run deadline in ms; it aborts the signal `fn` gets and rejects with code `timeout`)',
  throwOnTimeout: 'drop it: a call past its `timeoutMs` always rejects with code `timeout`',
  expiration: 'use `timeoutMs` (Bottleneck calls it `expiration`)',
  weight: 'a cost is per function here: `wrap(fn, { limiters: [...], cost })`',
};
const WRAP_HINTS: Readonly<Record<string, string>> = {
  concurrency: 'use `maxParallel` (p-limit calls it `concurrency`)',
  maxConcurrent: 'use `maxParallel` (Bottleneck calls it `maxConcurrent`)',
  timeout: 'use `timeoutMs` (a run deadline in ms per attempt)',
  expiration: 'use `timeoutMs` (Bottleneck calls it `expiration`)',
  weight: 'use `cost` (units taken from each of the policy\'s `limiters`)',
  interval: `${RATE_LIMIT}: give it to the scheduler's \`limiters\` and name it here (\`limiters: ['api']\`)`,
  intervalCap: `${RATE_LIMIT}: give it to the scheduler's \`limiters\` and name it here (\`limiters: ['api']\`)`,
  minTime: `${RATE_LIMIT}: give it to the scheduler's \`limiters\` and name it here (\`limiters: ['api']\`)`,
};

/**
 * Throws `invalid_argument` for the first key of `options` that is not one of `known`: the message names
 * the key and what to use instead when it is a p-queue, p-limit or Bottleneck name (`hints`), else lists the
 * known keys. A key whose value is `undefined` counts too (it is still a typo). Reads the keys, no value.
 */
function checkKeys(what: string, options: object, known: ReadonlySet<string>, hints: Readonly<Record<string, string>>): void {
  for (const key in options) {
    if (known.has(key)) continue;
    const hint = Object.prototype.hasOwnProperty.call(hints, key)
      ? `: ${hints[key]}`
      : `; expected one of ${[...known].map((k) => `\`${k}\``).join(', ')}`;
    throw new McpConcurrencyError('invalid_argument', `Unknown ${what} \`${key}\`${hint}`);
  }
}

/** `new Scheduler()`'s options: an unknown key (p-queue's `concurrency`...) throws `invalid_argument` naming it. */
export function checkSchedulerKeys(options: object): void {
  checkKeys('Scheduler option', options, SCHEDULER_KEYS, SCHEDULER_HINTS);
}

/** `add()`'s options: an unknown key (p-queue's `timeout`...) throws `invalid_argument` naming it. */
export function checkAddKeys(options: object): void {
  checkKeys('add() option', options, ADD_KEYS, ADD_HINTS);
}

/** `wrap()`'s policy: an unknown key (p-limit's `concurrency`...) throws `invalid_argument` naming it. */
export function checkWrapKeys(policy: object): void {
  checkKeys('wrap() policy key', policy, WRAP_KEYS, WRAP_HINTS);
}

/** Checks every option; throws `invalid_argument` naming the option, what was expected and what came. */
export function resolveOptions(options: SchedulerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
  try {
    checkSchedulerKeys(options);
  } catch (error) {
    if (error instanceof McpConcurrencyError) throw error;
    // A proxy whose keys cannot be listed.
    throw invalidArgument('options', 'an options object whose keys can be read', options);
  }
  if (options.key !== undefined) checkFunction('key', options.key);
  if (options.maxPerKey !== undefined && options.key === undefined) throw keyRequired(options.key);
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    throw invalidArgument('clock', 'an object with a now() method', options.clock);
  }
  if (options.random !== undefined) checkFunction('random', options.random);
  if (options.observers !== undefined && !Array.isArray(options.observers)) {
    throw invalidArgument('observers', 'an array of observers', options.observers);
  }
  if (options.tools !== undefined && !Array.isArray(options.tools)) throw invalidArgument('tools', 'an array of tools', options.tools);
  for (const name of ['limiters', 'policies'] as const) {
    const value: unknown = options[name];
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw invalidArgument(name, 'an object keyed by name', value);
    }
  }
  if (options.paused !== undefined && typeof options.paused !== 'boolean') throw invalidArgument('paused', 'a boolean', options.paused);
  return {
    maxParallel: checkPositiveInteger('maxParallel', options.maxParallel ?? 10, true),
    maxQueued: options.maxQueued === undefined ? Infinity : checkNonNegativeInteger('maxQueued', options.maxQueued, true),
    key: options.key,
    maxPerKey: options.maxPerKey === undefined ? Infinity : checkMaxPerKey(options.maxPerKey),
    timeoutMs: optionalPositive('timeoutMs', options.timeoutMs),
    queueTimeoutMs: optionalPositive('queueTimeoutMs', options.queueTimeoutMs),
    observers: [...(options.observers ?? [])],
    clock: options.clock ?? defaultClock,
    random: options.random ?? Math.random,
    paused: options.paused ?? false,
  };
}

/** A deadline option: undefined, or a number of ms > 0 and at most Node's longest timer (Infinity allowed: no deadline). */
export function optionalPositive(name: string, value: unknown): number | undefined {
  return value === undefined ? undefined : checkDeadline(name, value);
}
