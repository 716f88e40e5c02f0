import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeThrown, ERROR_CODES, isErrorCode, isKnownCode, McpConcurrencyError, type ErrorCode } from './errors.js';
import { statusOf } from './outcome.js';
import { Scheduler } from './scheduler.js';
import type { ToolStatus } from './types.js';

/**
 * Every code, with the status a call settles as when its tool throws an error with that code. Typed over
 * the whole union: a new code without a row does not compile.
 */
const STATUS = {
  invalid_argument: 'error',
  invalid_params: 'error',
  invalid_graph: 'error',
  unknown_tool: 'error',
  tool_error: 'error',
  timeout: 'timeout',
  queue_timeout: 'timeout',
  cancelled: 'cancelled',
  queue_full: 'rejected',
  closed: 'cancelled',
  dependency_failed: 'error',
  rate_limited: 'rejected',
  limiter_unavailable: 'rejected',
  http_error: 'error',
  response_too_large: 'error',
  forbidden_destination: 'error',
  db_error: 'error',
  unknown_identifier: 'error',
  config_error: 'error',
  upstream_error: 'error',
} as const satisfies Record<ErrorCode, ToolStatus>;

const codes = Object.keys(STATUS) as ErrorCode[];

/** The README's error table: code -> the text of its status cell. */
function readmeTable(): Map<string, string> {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Results and error codes'));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4) continue;
    for (const code of cells[1]!.matchAll(/`([a-z_]+)`/g)) rows.set(code[1]!, cells[2]!);
  }
  return rows;
}

describe('error codes', () => {
  it('the table covers exactly ERROR_CODES', () => {
    expect([...codes].sort()).toEqual([...ERROR_CODES].sort());
    expect(codes.every(isKnownCode)).toBe(true);
    expect(isKnownCode('no_such_code')).toBe(false);
  });

  const table = readmeTable();
  it.each(codes)('%s: its error has code, name, cause and instanceof; its status holds in the scheduler and the README', async (code) => {
    const cause = new Error('root');
    const error = new McpConcurrencyError(code, `something ${code}`, { cause, retryable: true, retryAfterMs: 10 });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(McpConcurrencyError);
    expect(error).toMatchObject({ code, name: 'McpConcurrencyError', message: `something ${code}`, cause, retryable: true, retryAfterMs: 10 });
    expect(isErrorCode(error, code)).toBe(true);

    expect(statusOf(code)).toBe(STATUS[code]);
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => Promise.reject(new McpConcurrencyError(code, 'from the tool')) }] });
    expect(await scheduler.run({ id: 'c', tool: 't' })).toMatchObject({ status: STATUS[code], error: { code, message: 'from the tool' } });

    expect(table.get(code), `README error table row for \`${code}\``).toContain(STATUS[code]);
  });
});

describe('McpConcurrencyError', () => {
  it('instanceof works for an error from another copy of the package (the Symbol.for brand)', () => {
    const foreign = Object.assign(new Error('x'), { code: 'timeout', [Symbol.for('mcp-concurrency.error')]: true });
    expect(foreign).toBeInstanceOf(McpConcurrencyError);
    expect(new Error('plain')).not.toBeInstanceOf(McpConcurrencyError);
    expect(null).not.toBeInstanceOf(McpConcurrencyError);
  });

  it('describes anything thrown, and never throws itself', () => {
    expect(describeThrown(new TypeError('bad'))).toBe('bad');
    expect(describeThrown('text')).toBe('text');
    expect(describeThrown(42)).toBe('non-Error thrown: 42');
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    expect(describeThrown(circular)).toBe('non-Error thrown: [object Object]');
    const hostile = new Proxy({}, { get: () => { throw new Error('trap'); }, getPrototypeOf: () => { throw new Error('trap'); } });
    expect(describeThrown(hostile)).toBe('non-Error thrown: (unreadable object)');
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    expect(describeThrown(revocable.proxy)).toBe('non-Error thrown: (unreadable object)');
    const badMessage = Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('trap'); } });
    expect(describeThrown(badMessage)).toBe('non-Error thrown: [object Error]');
  });
});
