import { describe, expect, it } from 'vitest';
import { McpConcurrencyError } from './errors.js';
import { Scheduler } from './scheduler.js';

describe('ToolErrorInfo carries what the failure knows', () => {
  it.each([
    ['retryable with Retry-After', { retryable: true, retryAfterMs: 1_500 }, { retryable: true, retryAfterMs: 1_500 }],
    ['retryable only', { retryable: true }, { retryable: true }],
    ['not retryable', {}, {}],
  ])('%s', async (_, options, expected) => {
    const scheduler = new Scheduler();
    scheduler.register({
      name: 'fails',
      run: () => {
        throw new McpConcurrencyError('http_error', 'answered HTTP 503', options);
      },
    });
    const result = await scheduler.run({ tool: 'fails' });
    expect(result.error).toEqual({ code: 'http_error', message: 'answered HTTP 503', ...expected });
    await scheduler.close();
  });
});
