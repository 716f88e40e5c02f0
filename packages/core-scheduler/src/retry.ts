import type { RetryPolicy } from './types.js';
import { checkFunction, checkNonNegativeInteger, checkPositive, invalidArgument } from './validate.js';

export interface ResolvedRetry {
  readonly retries: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly retryOn: (error: unknown, attempt: number) => boolean;
}

const markedRetryable = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;

export function resolveRetry(name: string, retry: RetryPolicy | number | undefined): ResolvedRetry | undefined {
  if (retry === undefined) return undefined;
  const policy: RetryPolicy = typeof retry === 'number' ? { retries: retry } : retry;
  if (typeof policy !== 'object' || policy === null) throw invalidArgument(name, 'a number or a retry policy object', retry);
  const retries = checkNonNegativeInteger(`${name}.retries`, policy.retries);
  if (retries === 0) return undefined;
  const minDelayMs = policy.minDelayMs === undefined ? 100 : checkPositive(`${name}.minDelayMs`, policy.minDelayMs);
  const maxDelayMs = policy.maxDelayMs === undefined ? 10_000 : checkPositive(`${name}.maxDelayMs`, policy.maxDelayMs);
  const factor = policy.factor === undefined ? 2 : checkPositive(`${name}.factor`, policy.factor);
  if (policy.retryOn !== undefined) checkFunction(`${name}.retryOn`, policy.retryOn);
  return { retries, minDelayMs, maxDelayMs, factor, retryOn: policy.retryOn ?? markedRetryable };
}

/**
 * Exponential backoff with full jitter: a random delay in [0, min(max, min * factor^(retry-1))],
 * never less than what the failure itself asked for (`retryAfterMs`, e.g. from `Retry-After`).
 */
export function backoffDelay(policy: ResolvedRetry, retry: number, random: () => number, retryAfterMs = 0): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * policy.factor ** (retry - 1));
  return Math.max(retryAfterMs, Math.round(random() * ceiling));
}
