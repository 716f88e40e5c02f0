import { type AcquireOptions, type Limiter, type Permit } from '@mcp-concurrency/core-scheduler';
import { abortReason, checkSignal } from '@mcp-concurrency/core-scheduler/plugin';
import type Bottleneck from 'bottleneck';

/**
 * Turns a Bottleneck instance (local or clustered on Redis) into a `Limiter`, for teams that already
 * run Bottleneck. The permit holds a Bottleneck job open until `release()`, so `maxConcurrent` counts
 * the call's whole run; `cost` is the job's `weight`.
 *
 * Bottleneck cannot remove a queued job, so a waiter aborted while queued still takes its turn
 * (and, with a reservoir, a token) when Bottleneck reaches it; the turn is given back at once.
 * Our own `TokenBucket` and `RedisTokenBucket` do not have this limitation.
 */
export function bottleneckLimiter(bottleneck: Bottleneck): Limiter {
  return {
    acquire(options?: AcquireOptions): Promise<Permit> {
      const signal = options?.signal;
      try {
        checkSignal('signal', signal);
      } catch (error) {
        return Promise.reject(error); // every acquire rejects, never throws
      }
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      return new Promise<Permit>((resolve, reject) => {
        let settled = false;
        const onAbort = (): void => {
          settled = true;
          reject(abortReason(signal!));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        bottleneck
          .schedule({ weight: options?.cost ?? 1 }, () => new Promise<void>((done) => {
            signal?.removeEventListener('abort', onAbort);
            if (settled) {
              done();
              return;
            }
            settled = true;
            let released = false;
            resolve({
              release: () => {
                if (released) return;
                released = true;
                done();
              },
            });
          }))
          .catch((error: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            if (!settled) {
              settled = true;
              reject(error);
            }
          });
      });
    },
  };
}
