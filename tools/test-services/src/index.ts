/**
 * Where the tests and the harness find their services. Redis: `REDIS_URL`. Without it a test suite
 * is skipped with the reason, unless `REQUIRE_SERVICES=1` (CI), where that is a failure.
 */
export interface ServiceChoice {
  readonly url: string | undefined;
  /** Why there is no URL; undefined when there is one. */
  readonly skipReason: string | undefined;
}

function required(): boolean {
  return process.env['REQUIRE_SERVICES'] === '1';
}

function log(line: string): void {
  if (process.env['MCP_CONCURRENCY_QUIET'] !== '1') console.error(`[test-services] ${line}`);
}

export function redisService(): ServiceChoice {
  const url = process.env['REDIS_URL'];
  if (url) {
    log(`Redis: REDIS_URL (${redact(url)})`);
    return { url, skipReason: undefined };
  }
  const reason = 'REDIS_URL is not set and no Docker engine is available for Testcontainers';
  if (required()) throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  log(`Redis: none (${reason}); Redis tests are skipped`);
  return { url: undefined, skipReason: reason };
}

/** A connection string with its password replaced, for logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
