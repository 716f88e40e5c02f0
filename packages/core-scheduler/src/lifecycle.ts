/**
 * `LifecycleState`: the one implementation of the `Lifecycle` contract (`close(options?)`, `destroy(reason?)`)
 * that every resource of the project delegates to, so they agree on idempotence, grace and signals.
 */
import { McpConcurrencyError } from './errors.js';
import type { CloseOptions } from './types.js';
import { checkNonNegative, checkSignal, invalidArgument, MAX_TIMER_MS } from './validate.js';

/** What a resource does at each step of its shutdown. */
export interface LifecycleHooks {
  /** Stop taking work (called once, first). Work already admitted goes on. @default nothing */
  stop?(): void;
  /** Resolves when the work in flight has finished by itself. */
  idle(): Promise<void>;
  /**
   * Ends the work in flight now (called at most once: on `destroy()`, or when the grace of `close()` ends).
   * `reason` is `destroy()`'s argument or the close signal's reason; undefined when the grace ran out.
   * Resolves when what it aborted has ended.
   */
  abort(reason: unknown): void | Promise<void>;
  /** Releases what the resource owns (sockets, a pool it built), once nothing runs. @default nothing */
  end?(): void | Promise<void>;
}

/**
 * The state machine behind `close()` and `destroy()`: open, then closing (no new work; in-flight work
 * finishes, or is aborted when `graceMs` elapses, `signal` aborts or `destroy()` is called), then done.
 * Both methods return the same promise every time, resolved once the resource has ended.
 *
 * @example
 * readonly #lifecycle = new LifecycleState({ stop: () => ..., idle: () => ..., abort: (reason) => ... });
 * close(options?: CloseOptions) { return this.#lifecycle.close(options); }
 * destroy(reason?: unknown) { return this.#lifecycle.destroy(reason); }
 * acquire() { if (this.#lifecycle.closed) return Promise.reject(closedError('The bucket')); ... }
 */
export class LifecycleState {
  readonly #hooks: LifecycleHooks;
  #done: Promise<void> | undefined;
  #aborted = false;
  #abortNow: ((reason: unknown) => void) | undefined;
  #disarm: (() => void) | undefined;

  constructor(hooks: LifecycleHooks) {
    this.#hooks = hooks;
  }

  /** True from the first `close()` or `destroy()` on: new work is refused with code `closed`. */
  get closed(): boolean {
    return this.#done !== undefined;
  }

  /**
   * Stops taking work and lets in-flight work finish; after `graceMs` (default Infinity) or when
   * `signal` aborts, aborts what is left. Rejects with `invalid_argument` for bad options (and stays open).
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#done !== undefined) return this.#done;
    let graceMs: number;
    let signal: AbortSignal | undefined;
    try {
      if (options !== undefined && (typeof options !== 'object' || options === null)) {
        throw invalidArgument('options', 'a close options object ({ graceMs?, signal? })', options);
      }
      // Each option read once.
      let given: unknown;
      try {
        ({ graceMs: given, signal } = options ?? {});
      } catch {
        throw invalidArgument('options', 'a close options object whose fields can be read', options);
      }
      graceMs = given === undefined ? Infinity : checkNonNegative('graceMs', given, true);
      if (graceMs > MAX_TIMER_MS && graceMs !== Infinity) throw invalidArgument('graceMs', `a number of ms from 0 to ${MAX_TIMER_MS} (Node's longest timer), or Infinity`, given);
      checkSignal('signal', signal);
    } catch (error) {
      return Promise.reject(error);
    }
    const done = this.#start();
    if (graceMs === 0 || signal?.aborted === true) {
      this.#abort(signal?.reason);
      return done;
    }
    const timer = graceMs === Infinity ? undefined : setTimeout(() => this.#abort(undefined), graceMs);
    const onAbort = (): void => this.#abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#disarm = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    return done;
  }

  /** Stops now: aborts in-flight work (with `reason`). Idempotent; also ends a `close()` in progress. */
  destroy(reason?: unknown): Promise<void> {
    const done = this.#done ?? this.#start();
    this.#abort(reason);
    return done;
  }

  #start(): Promise<void> {
    this.#hooks.stop?.();
    const aborted = new Promise<void>((resolve, reject) => {
      this.#abortNow = (reason) => {
        try {
          Promise.resolve(this.#hooks.abort(reason)).then(resolve, reject);
        } catch (error) {
          reject(error);
        }
      };
    });
    this.#done = Promise.race([this.#hooks.idle(), aborted]).then(async () => {
      // Everything has ended: a later destroy() has nothing left to abort.
      this.#aborted = true;
      this.#disarm?.();
      this.#disarm = undefined;
      await this.#hooks.end?.();
    });
    return this.#done;
  }

  #abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#disarm?.();
    this.#disarm = undefined;
    this.#abortNow!(reason);
  }
}

/** The error for work offered to a resource after `close()`: code `closed`, naming the resource. */
export function closedError(resource: string, cause?: unknown): McpConcurrencyError {
  return new McpConcurrencyError('closed', `${resource} is closed`, cause === undefined ? {} : { cause });
}
