/** Observers: many `SchedulerObserver`s composed into one, each hook read once and guarded. */
import type { SchedulerObserver } from './types.js';
import { invalidArgument } from './validate.js';

const HOOKS = ['onQueued', 'onStart', 'onSettled', 'onLimiterWait', 'onRetry'] as const;

type Hook = (...args: never[]) => void;

/**
 * One observer that calls each of `observers` in order. Each observer's hooks are read here, once (a
 * getter that throws counts as no hook), so nothing of an observer is read on the way of a call. Hooks no
 * observer has are left out, so the scheduler skips them at no cost; an observer that throws does not
 * disturb the others or the call. @throws `invalid_argument` for an observer that is not an object
 */
export function composeObservers(observers: readonly SchedulerObserver[]): SchedulerObserver | undefined {
  if (observers.length === 0) return undefined;
  const read = observers.map((observer, i) => {
    if (typeof observer !== 'object' || observer === null) throw invalidArgument(`observers[${i}]`, 'an observer object', observer);
    const hooks: Partial<Record<(typeof HOOKS)[number], Hook>> = {};
    for (const hook of HOOKS) {
      try {
        const fn: unknown = observer[hook];
        if (typeof fn === 'function') hooks[hook] = fn as Hook;
      } catch {
        // A hook that cannot be read is no hook.
      }
    }
    return { observer, hooks };
  });
  const composed: Partial<Record<(typeof HOOKS)[number], Hook>> = {};
  for (const hook of HOOKS) {
    const calls = read.flatMap(({ observer, hooks }) => (hooks[hook] === undefined ? [] : [{ observer, fn: hooks[hook] }]));
    if (calls.length === 0) continue;
    if (calls.length === 1) {
      const { observer, fn } = calls[0]!;
      composed[hook] = (...args: never[]) => {
        try {
          fn.apply(observer, args);
        } catch {
          // An observer must never change a call's outcome.
        }
      };
      continue;
    }
    composed[hook] = (...args: never[]) => {
      for (const { observer, fn } of calls) {
        try {
          fn.apply(observer, args);
        } catch {
          // An observer must never change a call's outcome.
        }
      }
    };
  }
  return composed as SchedulerObserver;
}
