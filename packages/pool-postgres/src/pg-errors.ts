import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';

/** SQLSTATE classes and codes that mean "the connection went away": worth a retry for a read. */
const CONNECTION_LOST = /^(08|57P0[1-3])/;
const NODE_CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/**
 * A `db_error` that keeps the server's SQLSTATE and message (never the SQL text or parameters: they
 * may hold secrets), marked retryable when the connection was lost rather than the query wrong.
 */
export function toDbError(error: unknown, what: string): McpConcurrencyError {
  if (error instanceof McpConcurrencyError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const sqlState = typeof code === 'string' ? code : undefined;
  const connectionLost =
    (sqlState !== undefined && (CONNECTION_LOST.test(sqlState) || NODE_CONNECTION_ERRORS.has(sqlState))) ||
    /Connection terminated|connection timeout|terminating connection/i.test(describeThrown(error));
  const state = sqlState === undefined ? '' : ` (SQLSTATE ${sqlState})`;
  return new McpConcurrencyError('db_error', `${what} failed${state}: ${describeThrown(error)}`, {
    cause: error,
    retryable: connectionLost,
  });
}
