import { afterEach, describe, expect, it, vi } from 'vitest';
import { closedError, LifecycleState } from './lifecycle.js';

/** A resource whose in-flight work ends when the test says so; records each hook call. */
function resource() {
  const calls: string[] = [];
  let finish!: () => void;
  const idle = new Promise<void>((resolve) => (finish = resolve));
  const state = new LifecycleState({
    stop: () => void calls.push('stop'),
    idle: () => idle,
    abort: (reason) => {
      calls.push(`abort ${reason === undefined ? 'grace' : String((reason as Error).message ?? reason)}`);
      finish();
    },
    end: () => void calls.push('end'),
  });
  return { state, calls, finish };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('LifecycleState', () => {
  it('close() stops taking work, waits for in-flight work, then ends; every call returns one promise', async () => {
    const { state, calls, finish } = resource();
    expect(state.closed).toBe(false);
    const closing = state.close();
    expect(state.closed).toBe(true);
    expect(state.close({ graceMs: 0 })).toBe(closing); // later options change nothing
    expect(calls).toEqual(['stop']);
    finish();
    await closing;
    expect(calls).toEqual(['stop', 'end']);
    expect(state.destroy()).toBe(closing);
    await state.destroy();
    expect(calls).toEqual(['stop', 'end']);
  });

  it('the grace ends by aborting once: after graceMs, when the signal aborts, or on destroy()', async () => {
    vi.useFakeTimers();
    const timed = resource();
    const closing = timed.state.close({ graceMs: 100 });
    await vi.advanceTimersByTimeAsync(99);
    expect(timed.calls).toEqual(['stop']);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(timed.calls).toEqual(['stop', 'abort grace', 'end']);

    const signalled = resource();
    const controller = new AbortController();
    const closingToo = signalled.state.close({ graceMs: 1_000, signal: controller.signal });
    controller.abort(new Error('deploy'));
    await closingToo;
    expect(signalled.calls).toEqual(['stop', 'abort deploy', 'end']);
    await vi.advanceTimersByTimeAsync(1_000); // the disarmed timer does not abort again
    expect(signalled.calls).toEqual(['stop', 'abort deploy', 'end']);

    const destroyed = resource();
    const destroying = destroyed.state.destroy(new Error('now'));
    await destroying;
    expect(destroyed.calls).toEqual(['stop', 'abort now', 'end']);
  });

  it('an already aborted signal or graceMs 0 aborts at once; bad options reject and leave it open', async () => {
    const zero = resource();
    await zero.state.close({ graceMs: 0 });
    expect(zero.calls).toEqual(['stop', 'abort grace', 'end']);
    const aborted = resource();
    await aborted.state.close({ signal: AbortSignal.abort(new Error('early')) });
    expect(aborted.calls).toEqual(['stop', 'abort early', 'end']);

    const open = resource();
    await expect(open.state.close({ graceMs: Number.NaN })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('`graceMs`') });
    await expect(open.state.close(5 as never)).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(open.state.closed).toBe(false);
    expect(open.calls).toEqual([]);
  });

  it('closedError names the resource and keeps the cause', () => {
    const cause = new Error('why');
    expect(closedError('The pool', cause)).toMatchObject({ code: 'closed', message: 'The pool is closed', cause });
  });
});
