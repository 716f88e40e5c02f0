import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';

/** SQLSTATE classes and codes that mean "the connection went away": worth a retry for a read. */
const CONNECTION_LOST = /^(08|57P0[1-3])/;
const SQLSTATE = /^[0-9A-Z]{5}$/;
const NODE_CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

/**
 * A `db_error` that keeps the server's SQLSTATE and message (never the SQL text or parameters: they
 * may hold secrets), marked retryable when the connection was lost rather than the query wrong.
 */
export function toDbError(error: unknown, what: string): McpConcurrencyError {
  if (error instanceof McpConcurrencyError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  // A SQLSTATE is five digits or capitals (`57014`, `42P01`); `ECONNREFUSED` and friends are Node's
  // socket errors: the server never answered, so there is no SQLSTATE to show.
  const sqlState = typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
  const systemCode = typeof code === 'string' && sqlState === undefined ? code : undefined;
  const connectionLost =
    (sqlState !== undefined && CONNECTION_LOST.test(sqlState)) ||
    (systemCode !== undefined && NODE_CONNECTION_ERRORS.has(systemCode)) ||
    /Connection terminated|connection timeout|terminating connection/i.test(describeThrown(error));
  const state = sqlState !== undefined ? ` (SQLSTATE ${sqlState})` : systemCode !== undefined ? ` (${systemCode})` : '';
  return new McpConcurrencyError('db_error', `${what} failed${state}: ${describeThrown(error)}`, {
    cause: error,
    retryable: connectionLost,
  });
}
