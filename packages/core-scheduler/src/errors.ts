/** Every code an mcp-concurrency package puts on an error or a result. Stable: a rename is a breaking change. */
export type ErrorCode =
  | 'invalid_argument'
  | 'invalid_params'
  | 'invalid_graph'
  | 'unknown_tool'
  | 'tool_error'
  | 'timeout'
  | 'queue_timeout'
  | 'cancelled'
  | 'queue_full'
  | 'closed'
  | 'dependency_failed'
  | 'rate_limited'
  | 'limiter_unavailable'
  | 'http_error'
  | 'response_too_large'
  | 'forbidden_destination'
  | 'db_error'
  | 'unknown_identifier'
  | 'config_error'
  | 'upstream_error';

const BRAND = Symbol.for('mcp-concurrency.error');

export interface McpConcurrencyErrorOptions {
  readonly cause?: unknown;
  /** The scheduler retries errors marked retryable when the tool has a retry policy. */
  readonly retryable?: boolean;
  /** How long to wait before trying again, when known (a rate limit, `Retry-After`). */
  readonly retryAfterMs?: number;
}

/**
 * The one error class of the project. `instanceof` works across two installed copies of the
 * package (a `Symbol.for` brand), and `code` is a closed union you can switch on.
 */
export class McpConcurrencyError extends Error {
  override readonly name: string = 'McpConcurrencyError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: McpConcurrencyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** True for an `McpConcurrencyError` with that code (from any installed copy). */
export function isErrorCode(value: unknown, code: ErrorCode): value is McpConcurrencyError {
  return value instanceof McpConcurrencyError && value.code === code;
}

/** A readable message for anything thrown, `Error` or not. */
export function describeThrown(value: unknown): string {
  if (value instanceof Error) return value.message || value.name;
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    return `non-Error thrown: ${json === undefined ? String(value) : json}`;
  } catch {
    return `non-Error thrown: ${Object.prototype.toString.call(value)}`;
  }
}
