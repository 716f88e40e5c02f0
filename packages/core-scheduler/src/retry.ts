/** Retries: the retry policy checked, full-jitter backoff, and scheduling the next attempt. */
import type { Dispatcher } from './dispatcher.js';
import { errorInfo, readRetryAfter } from './outcome.js';
import { RETRY_WAIT, type Task } from './task.js';
import type { RetryPolicy } from './types.js';
import { checkDeadline, checkFunction, checkNonNegativeInteger, checkPositive, invalidArgument, MAX_TIMER_MS } from './validate.js';

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
  const minDelayMs = policy.minDelayMs === undefined ? 100 : checkDeadline(`${name}.minDelayMs`, policy.minDelayMs);
  const maxDelayMs = policy.maxDelayMs === undefined ? 10_000 : checkDeadline(`${name}.maxDelayMs`, policy.maxDelayMs);
  const factor = policy.factor === undefined ? 2 : checkPositive(`${name}.factor`, policy.factor);
  if (policy.retryOn !== undefined) checkFunction(`${name}.retryOn`, policy.retryOn);
  return { retries, minDelayMs, maxDelayMs, factor, retryOn: policy.retryOn ?? markedRetryable };
}

/**
 * Exponential backoff with full jitter: a random delay in [0, min(max, min * factor^(retry-1))],
 * never less than what the failure itself asked for (`retryAfterMs`, e.g. from `Retry-After`).
 */
export function backoffDelay(policy: ResolvedRetry, retry: number, random: () => number, retryAfterMs = 0): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * policy.factor ** (retry - 1), MAX_TIMER_MS);
  // A service's "retry after" longer than Node's longest timer waits that longest timer, never 1 ms.
  return Math.min(MAX_TIMER_MS, Math.max(retryAfterMs, Math.round(random() * ceiling)));
}

/**
 * Schedules another attempt of a failed call, its slots released while it waits; false when the
 * failure is final (no policy, closed, out of retries, or `retryOn` says no or throws).
 */
export function scheduleRetry(core: Dispatcher, task: Task, error: unknown): boolean {
  const policy = task.lane.tool.retry;
  if (policy === undefined || core.closed || task.attempts > policy.retries) return false;
  let retryable: boolean;
  try {
    retryable = policy.retryOn(error, task.attempts) === true;
  } catch {
    retryable = false;
  }
  if (!retryable) return false;
  const delayMs = backoffDelay(policy, task.attempts, core.random, readRetryAfter(error));
  task.state = RETRY_WAIT;
  core.retryWaiting.push(task);
  const observer = core.observer;
  if (observer?.onRetry !== undefined) {
    const info = errorInfo(error);
    core.notify(() => observer.onRetry!(task.call, task.attempts + 1, delayMs, info));
  }
  task.extra().timer = setTimeout(() => {
    task.extras!.timer = undefined;
    if (task.state !== RETRY_WAIT) return;
    core.time.stale();
    core.retryWaiting.remove(task);
    core.enqueue(task);
    core.dispatch();
  }, delayMs);
  return true;
}
