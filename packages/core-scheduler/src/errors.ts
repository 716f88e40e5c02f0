/**
 * Every code an mcp-concurrency package puts on an error or a result. Stable: a rename is a breaking
 * change. The README's error table lists each one (a test checks it).
 */
export const ERROR_CODES = [
  'invalid_argument',
  'invalid_params',
  'invalid_graph',
  'unknown_tool',
  'tool_error',
  'timeout',
  'queue_timeout',
  'cancelled',
  'queue_full',
  'closed',
  'dependency_failed',
  'rate_limited',
  'limiter_unavailable',
  'http_error',
  'response_too_large',
  'forbidden_destination',
  'db_error',
  'unknown_identifier',
  'config_error',
  'upstream_error',
] as const;

/** One of `ERROR_CODES`. */
export type ErrorCode = (typeof ERROR_CODES)[number];

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `value` is one of `ERROR_CODES`. */
export function isKnownCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODES.has(value);
}

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

  /** Checks the brand; false (never a throw) for a value whose brand cannot be read, such as a revoked proxy. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    try {
      return (value as Record<symbol, unknown>)[BRAND] === true;
    } catch {
      return false;
    }
  }
}

/** True for an `McpConcurrencyError` with that code (from any installed copy). */
export function isErrorCode(value: unknown, code: ErrorCode): value is McpConcurrencyError {
  try {
    return value instanceof McpConcurrencyError && value.code === code;
  } catch {
    return false;
  }
}

/**
 * A readable message for anything thrown, `Error` or not, that never throws itself: a value whose
 * property reads or `toJSON` throw (a hostile object, a revoked proxy) is described by its type alone.
 */
export function describeThrown(value: unknown): string {
  try {
    if (typeof value === 'string') return value;
    if (value instanceof Error) {
      const message: unknown = value.message;
      if (typeof message === 'string' && message.length > 0) return message;
      const name: unknown = value.name;
      return typeof name === 'string' && name.length > 0 ? name : 'Error';
    }
    const json = JSON.stringify(value);
    return `non-Error thrown: ${json === undefined ? String(value) : json}`;
  } catch {
    return `non-Error thrown: ${tagOf(value)}`;
  }
}

/** `[object Object]`, `[object Array]`, or the bare `typeof` when even that read throws. */
function tagOf(value: unknown): string {
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return `(unreadable ${typeof value})`;
  }
}
