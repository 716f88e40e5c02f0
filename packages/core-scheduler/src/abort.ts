/** Abort helpers for anything that waits: the reason to reject with, a one-shot listener, an abortable sleep. */
import { McpConcurrencyError } from './errors.js';

/** The reason to reject with when `signal` aborted: its own reason, or a `cancelled` error. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new McpConcurrencyError('cancelled', 'The operation was aborted');
}

/**
 * Runs `onAbort` once if `signal` aborts; returns the function that removes the listener.
 * The caller must have checked `signal.aborted` first.
 */
export function onAbort(signal: AbortSignal | undefined, onAbort: () => void): () => void {
  if (signal === undefined) return noop;
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      resolve();
    }, ms);
    const off = onAbort(signal, () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    });
  });
}

function noop(): void {}
