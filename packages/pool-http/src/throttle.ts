import { McpConcurrencyError, type Limiter, type ToolContext } from '@mcp-concurrency/core-scheduler';

/**
 * Wraps a tool's `run` so that an attempt the service answered with "come back later" (an `http_error`
 * carrying `retryAfterMs`: a 429 or 503 with `Retry-After`) throttles every limiter the call holds
 * before the error goes on to the scheduler (whose retry, if any, then waits for those limiters too).
 * Limiters without `throttle()` (concurrency caps) are skipped.
 *
 * @param limiters the limiters the call holds, read at each failure (a registry may change them)
 * @example
 * scheduler.register({ name, run: throttleOnRetryAfter(tool.run, () => [bucket]) }, { limiters: ['api'] });
 */
export function throttleOnRetryAfter<P, R>(
  run: (params: P, ctx: ToolContext) => R | Promise<R>,
  limiters: () => Iterable<Limiter | undefined>,
): (params: P, ctx: ToolContext) => Promise<R> {
  return async (params, ctx) => {
    try {
      return await run(params, ctx);
    } catch (error) {
      if (error instanceof McpConcurrencyError && error.code === 'http_error' && error.retryAfterMs !== undefined && error.retryAfterMs > 0) {
        for (const limiter of limiters()) limiter?.throttle?.(error.retryAfterMs);
      }
      throw error;
    }
  };
}
