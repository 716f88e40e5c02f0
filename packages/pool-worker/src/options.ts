import { availableParallelism } from 'node:os';
import {
  checkFunction,
  checkNonNegative,
  checkNonNegativeInteger,
  checkPositive,
  checkPositiveInteger,
  invalidArgument,
} from '@mcp-concurrency/core-scheduler/plugin';

/** Options of `new WorkerPool()`. Every one is checked at construction. */
export interface WorkerPoolOptions {
  /**
   * Worker threads at most: calls running at once. In the YAML server this is `thread_pool_size`.
   * More threads than cores only adds switching for CPU-bound work.
   * @default os.availableParallelism()
   * @example 4
   */
  readonly maxThreads?: number;
  /** Threads kept alive even when idle (started at once, replaced at once when one is stopped). @default 0 */
  readonly minThreads?: number;
  /** How long an idle thread above `minThreads` lives, in ms. @default 30_000 */
  readonly idleTimeoutMs?: number;
  /** Calls waiting for a thread at most; one more fails with `queue_full`. @default Infinity */
  readonly maxQueued?: number;
  /**
   * Each worker's JavaScript heap (V8 old generation), in MiB. A call that needs more fails alone with
   * `tool_error`; its worker is replaced. Node's `resourceLimits.maxOldGenerationSizeMb`.
   * @default 512
   */
  readonly maxHeapMb?: number;
  /** Each worker's young generation, in MiB (`resourceLimits.maxYoungGenerationSizeMb`). @default V8's own */
  readonly maxYoungHeapMb?: number;
  /** Each worker's stack, in MiB (`resourceLimits.stackSizeMb`). @default 4 */
  readonly stackSizeMb?: number;
  /**
   * The workers' `process.env`. Give a reduced copy to keep the server's secrets from tool code.
   * @default a copy of the main thread's `process.env`
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Errors that belong to no call (a worker that failed between calls). Without it they are dropped,
   * never thrown: the pool replaces the worker either way.
   */
  readonly onError?: (error: unknown) => void;
}

export interface ResolvedWorkerPoolOptions {
  readonly maxThreads: number;
  readonly minThreads: number;
  readonly idleTimeoutMs: number;
  readonly maxQueued: number;
  readonly maxHeapMb: number;
  readonly maxYoungHeapMb: number | undefined;
  readonly stackSizeMb: number;
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly onError: ((error: unknown) => void) | undefined;
}

/** Validates the options and fills in the defaults; throws `invalid_argument` naming the option. */
export function resolveOptions(options: WorkerPoolOptions = {}): ResolvedWorkerPoolOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  const maxThreads = options.maxThreads === undefined ? availableParallelism() : checkPositiveInteger('maxThreads', options.maxThreads);
  const minThreads = options.minThreads === undefined ? 0 : checkNonNegativeInteger('minThreads', options.minThreads);
  if (minThreads > maxThreads) throw invalidArgument('minThreads', `an integer <= maxThreads (${maxThreads})`, minThreads);
  if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) throw invalidArgument('env', 'an object of strings', options.env);
  if (options.onError !== undefined) checkFunction('onError', options.onError);
  return {
    maxThreads,
    minThreads,
    idleTimeoutMs: options.idleTimeoutMs === undefined ? 30_000 : checkNonNegative('idleTimeoutMs', options.idleTimeoutMs),
    maxQueued: options.maxQueued === undefined ? Infinity : options.maxQueued === Infinity ? Infinity : checkNonNegativeInteger('maxQueued', options.maxQueued),
    maxHeapMb: options.maxHeapMb === undefined ? 512 : checkPositive('maxHeapMb', options.maxHeapMb),
    maxYoungHeapMb: options.maxYoungHeapMb === undefined ? undefined : checkPositive('maxYoungHeapMb', options.maxYoungHeapMb),
    stackSizeMb: options.stackSizeMb === undefined ? 4 : checkPositive('stackSizeMb', options.stackSizeMb),
    env: options.env,
    onError: options.onError,
  };
}
