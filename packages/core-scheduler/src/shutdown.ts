/**
 * The scheduler's lifecycle (see `Lifecycle`): `close()` refuses new calls, cancels the waiting ones
 * and lets running ones finish within the grace; `destroy()` aborts them now.
 */
import { cancelRunning, cancelWaiting } from './cancel.js';
import type { Dispatcher } from './dispatcher.js';
import { McpConcurrencyError } from './errors.js';
import { isCoded } from './outcome.js';
import type { CloseOptions } from './types.js';
import { checkNonNegative, checkSignal, invalidArgument } from './validate.js';

export class Shutdown {
  #closing: Promise<void> | undefined;
  /** Ends the grace: aborts what still runs. Undefined before `close()` and once done. */
  #force: ((reason?: unknown) => void) | undefined;

  /** Idempotent: every call returns the first call's promise. */
  close(core: Dispatcher, options: CloseOptions | undefined): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      return Promise.reject(invalidArgument('options', 'a close options object', options));
    }
    let graceMs: number;
    try {
      graceMs = options?.graceMs === undefined ? Infinity : checkNonNegative('graceMs', options.graceMs, true);
      checkSignal('signal', options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    core.closed = true;
    cancelWaiting(core, new McpConcurrencyError('closed', 'The scheduler was closed before this call started'));
    this.#closing = this.#finishRunning(core, graceMs, options?.signal);
    return this.#closing;
  }

  /** `close()` with no grace: aborts running calls now, with `reason` as the cause. Idempotent. */
  destroy(core: Dispatcher, reason?: unknown): Promise<void> {
    const closing = this.#closing ?? this.close(core, undefined);
    this.#force?.(reason);
    return closing;
  }

  /** Resolves when every call has its result: when running calls finish, or when the grace ends. */
  #finishRunning(core: Dispatcher, graceMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stop = (reason?: unknown): void => {
        if (this.#force === undefined) return;
        this.#force = undefined;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const error = isCoded(reason)
          ? reason
          : new McpConcurrencyError('closed', 'The scheduler was closed while this call ran', { cause: reason });
        cancelRunning(core, error);
        resolve();
      };
      const onAbort = (): void => stop(signal!.reason);
      this.#force = stop;
      if (graceMs === 0 || signal?.aborted === true) {
        stop(signal?.reason);
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (graceMs !== Infinity) timer = setTimeout(stop, graceMs);
      void core.events.onIdle(core.isIdle()).then(() => stop());
    });
  }
}
