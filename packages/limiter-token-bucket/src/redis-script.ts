import { createHash } from 'node:crypto';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import type { Redis } from 'ioredis';


function sha1(script: string): string {
  return createHash('sha1').update(script).digest('hex');
}

/** EVALSHA, and EVAL once when Redis does not have the script yet (a restart, a new server). */
export async function evalScript(redis: Redis, script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  const sha = sha1(script);
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (error instanceof Error && error.message.includes('NOSCRIPT')) {
      return redis.eval(script, keys.length, ...keys, ...args);
    }
    throw error;
  }
}


/** Rejects with `limiter_unavailable` when `promise` takes longer than `ms`, so a call never hangs on a dead Redis. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new McpConcurrencyError('limiter_unavailable', `Redis did not answer within ${ms} ms`)),
      ms,
    );
  });
  // The late answer, if it ever comes, is dropped: a token it took is lost, which errs on the safe side.
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
