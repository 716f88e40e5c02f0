import { describe, expect, it } from 'vitest';
import { describeThrown, isErrorCode, McpConcurrencyError, type ErrorCode } from './errors.js';

const codes: ErrorCode[] = [
  'invalid_argument', 'invalid_params', 'invalid_graph', 'unknown_tool', 'tool_error', 'timeout', 'queue_timeout',
  'cancelled', 'queue_full', 'closed', 'dependency_failed', 'rate_limited', 'limiter_unavailable', 'http_error',
  'response_too_large', 'forbidden_destination', 'db_error', 'unknown_identifier', 'config_error', 'upstream_error',
];

describe('McpConcurrencyError', () => {
  it.each(codes)('%s: has its code, name, cause and a working instanceof', (code) => {
    const cause = new Error('root');
    const error = new McpConcurrencyError(code, `something ${code}`, { cause, retryable: true, retryAfterMs: 10 });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(McpConcurrencyError);
    expect(error).toMatchObject({ code, name: 'McpConcurrencyError', message: `something ${code}`, cause, retryable: true, retryAfterMs: 10 });
    expect(isErrorCode(error, code)).toBe(true);
  });

  it('instanceof works for an error from another copy of the package (the Symbol.for brand)', () => {
    const foreign = Object.assign(new Error('x'), { code: 'timeout', [Symbol.for('mcp-concurrency.error')]: true });
    expect(foreign).toBeInstanceOf(McpConcurrencyError);
    expect(new Error('plain')).not.toBeInstanceOf(McpConcurrencyError);
    expect(null).not.toBeInstanceOf(McpConcurrencyError);
  });

  it('describes anything thrown', () => {
    expect(describeThrown(new TypeError('bad'))).toBe('bad');
    expect(describeThrown('text')).toBe('text');
    expect(describeThrown(42)).toBe('non-Error thrown: 42');
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    expect(describeThrown(circular)).toBe('non-Error thrown: [object Object]');
  });
});
