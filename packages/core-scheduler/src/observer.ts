/** Observers: many `SchedulerObserver`s composed into one, each hook guarded. */
import type { SchedulerObserver } from './types.js';

const HOOKS = ['onQueued', 'onStart', 'onSettled', 'onLimiterWait', 'onRetry'] as const;

/**
 * One observer that calls each of `observers` in order. Hooks no observer has are left out, so
 * the scheduler skips them at no cost; an observer that throws does not disturb the others or the call.
 */
export function composeObservers(observers: readonly SchedulerObserver[]): SchedulerObserver | undefined {
  if (observers.length === 0) return undefined;
  if (observers.length === 1) return observers[0];
  const composed: Record<string, (...args: never[]) => void> = {};
  for (const hook of HOOKS) {
    const fns = observers.filter((o) => typeof o[hook] === 'function');
    if (fns.length === 0) continue;
    composed[hook] = (...args: never[]) => {
      for (const o of fns) {
        try {
          (o[hook] as (...a: never[]) => void).apply(o, args);
        } catch {
          // An observer must never change a call's outcome.
        }
      }
    };
  }
  return composed as SchedulerObserver;
}
