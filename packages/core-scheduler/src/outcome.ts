/**
 * Outcome mapping: what a tool threw or returned, or why a call never ran, turned into the
 * `ToolErrorInfo` and `ToolStatus` of its result. Every read of a foreign value here is guarded, so a
 * hostile value (a throwing getter, a revoked proxy) still yields exactly one result.
 */
import { describeThrown, isKnownCode, McpConcurrencyError, type ErrorCode } from './errors.js';
import type { ToolErrorInfo, ToolStatus } from './types.js';

/** The status a result with this error code has. */
export function statusOf(code: ErrorCode): ToolStatus {
  switch (code) {
    case 'timeout':
    case 'queue_timeout':
      return 'timeout';
    case 'cancelled':
    case 'closed':
      return 'cancelled';
    case 'queue_full':
    case 'rate_limited':
    case 'limiter_unavailable':
      return 'rejected';
    default:
      return 'error';
  }
}

/**
 * The `{ code, message }` of anything a tool threw. An `McpConcurrencyError` (from any installed copy)
 * keeps its code and `retryAfterMs`; anything else, or a coded error whose fields cannot be read, is
 * `tool_error` with a safe description.
 */
export function errorInfo(error: unknown): ToolErrorInfo {
  try {
    if (error instanceof McpConcurrencyError) {
      const code: unknown = error.code;
      const message: unknown = error.message;
      const retryable: unknown = error.retryable;
      const retryAfterMs: unknown = error.retryAfterMs;
      if (isKnownCode(code) && typeof message === 'string') {
        const info: { code: ErrorCode; message: string; retryable?: boolean; retryAfterMs?: number } = { code, message };
        if (retryable === true) info.retryable = true;
        if (typeof retryAfterMs === 'number' && retryAfterMs >= 0) info.retryAfterMs = retryAfterMs;
        return info;
      }
    }
  } catch {
    // A hostile value: described below without reading it again.
  }
  return { code: 'tool_error', message: describeThrown(error) };
}

/** The error a call gets when its signal aborts: the reason when it is a coded error, else `cancelled`. */
export function cancelledError(signal: AbortSignal): McpConcurrencyError {
  const reason: unknown = signal.reason;
  if (isCoded(reason)) return reason;
  const detail = reason === undefined ? '' : `: ${describeThrown(reason)}`;
  return new McpConcurrencyError('cancelled', `Cancelled by the caller${detail}`, { cause: reason });
}

/** A limiter's failure as a coded error: its own when coded, else `limiter_unavailable` naming the limiter. */
export function limiterError(error: unknown, name: string): McpConcurrencyError {
  if (isCoded(error)) return error;
  return new McpConcurrencyError('limiter_unavailable', `Limiter "${name}" failed: ${describeThrown(error)}`, {
    cause: error,
  });
}

/** `instanceof McpConcurrencyError`, false for a value whose brand cannot be read. */
export function isCoded(value: unknown): value is McpConcurrencyError {
  try {
    return value instanceof McpConcurrencyError;
  } catch {
    return false;
  }
}

/** What `readThen` returns when reading `then` threw: the value is hostile. */
export const UNREADABLE: unique symbol = Symbol('unreadable');

/** `Promise.prototype.then`: a value whose `then` is this one is a native promise (it calls back at most once), or the call throws. */
export const NATIVE_THEN: unknown = Promise.prototype.then;

/**
 * The `then` method of a value a tool returned (a promise or a thenable), `undefined` for a plain
 * value, `UNREADABLE` when reading it threw.
 */
export function readThen(value: unknown): ((ok: (v: unknown) => void, err: (e: unknown) => void) => unknown) | undefined | typeof UNREADABLE {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  try {
    const then: unknown = (value as { then?: unknown }).then;
    return typeof then === 'function' ? (then as (ok: (v: unknown) => void, err: (e: unknown) => void) => unknown) : undefined;
  } catch {
    return UNREADABLE;
  }
}

/** A failure's own `retryAfterMs` (e.g. from `Retry-After`), 0 when it has none or it cannot be read. */
export function readRetryAfter(error: unknown): number {
  if (error === null || typeof error !== 'object') return 0;
  try {
    const value: unknown = (error as { retryAfterMs?: unknown }).retryAfterMs;
    return typeof value === 'number' && value > 0 && Number.isFinite(value) ? value : 0;
  } catch {
    return 0;
  }
}

/** The error of a tool that returned a value whose `then` could not be read. */
export function unreadableValue(tool: string): McpConcurrencyError {
  return new McpConcurrencyError('tool_error', `Tool "${tool}" returned a value that could not be read (its \`then\` threw)`);
}
