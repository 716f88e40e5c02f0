import { log, redact } from './log.js';

export { redact } from './log.js';
export { startPostgres, type PostgresService } from './postgres.js';
export { measureRoundTrips } from './round-trips.js';

/**
 * Where the tests and the harness find Redis: `REDIS_URL`. Without it a test suite is skipped with
 * the reason, unless `REQUIRE_SERVICES=1` (CI), where that is a failure.
 */
export interface ServiceChoice {
  readonly url: string | undefined;
  /** Why there is no URL; undefined when there is one. */
  readonly skipReason: string | undefined;
}

export function redisService(): ServiceChoice {
  const url = process.env['REDIS_URL'];
  if (url) {
    log(`Redis: REDIS_URL (${redact(url)})`);
    return { url, skipReason: undefined };
  }
  const reason = 'REDIS_URL is not set';
  if (process.env['REQUIRE_SERVICES'] === '1') throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  log(`Redis: none (${reason}); Redis tests are skipped`);
  return { url: undefined, skipReason: reason };
}
