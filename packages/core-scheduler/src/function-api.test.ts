import { describe, expect, it, vi } from 'vitest';
import { McpConcurrencyError } from './errors.js';
import type { AddOptions, WrapPolicy } from './options.js';
import { Scheduler } from './scheduler.js';
import type { ToolCall } from './types.js';

/** A function whose calls finish only when the test says so, counting how many run at once. */
function gate() {
  const stats = { running: 0, max: 0, order: [] as string[] };
  const open: (() => void)[] = [];
  const fn = (label: string) => async (): Promise<string> => {
    stats.running++;
    stats.max = Math.max(stats.max, stats.running);
    stats.order.push(label);
    await new Promise<void>((resolve) => open.push(resolve));
    stats.running--;
    return label;
  };
  const releaseAll = async (): Promise<void> => {
    while (stats.running > 0 || open.length > 0) {
      open.splice(0).forEach((resolve) => resolve());
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  return { fn, stats, open, releaseAll };
}

describe('add(fn): p-queue semantics under the scheduler', () => {
  it('resolves with the value, rejects with what fn threw (as is), and hands fn a signal', async () => {
    const scheduler = new Scheduler();
    expect(await scheduler.add(({ signal }) => (signal instanceof AbortSignal ? 'has a signal' : 'no'))).toBe('has a signal');
    const thrown = { not: 'an Error' };
    await expect(scheduler.add(() => Promise.reject(thrown))).rejects.toBe(thrown);
    const sync = new TypeError('sync');
    await expect(scheduler.add(() => { throw sync; })).rejects.toBe(sync);
    await expect(scheduler.add('nope' as unknown as () => 1)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(scheduler.add(() => 1, { timeoutMs: -1 })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('`timeoutMs`') });
  });

  it('a rejection the caller handles is never reported unhandled, even for a thenable or a coded error', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const scheduler = new Scheduler({ maxParallel: 1 });
      const thenable = { then: () => 'never called: a rejection reason is not adopted' };
      const controller = new AbortController();
      const calls = [
        scheduler.add(() => Promise.reject(thenable)),
        scheduler.add(() => new Promise(() => {}), { timeoutMs: 1 }),
        scheduler.add(() => 'queued, then cancelled', { signal: controller.signal }),
      ];
      controller.abort();
      const settled = await Promise.allSettled(calls);
      expect(settled.map((s) => (s.status === 'rejected' ? ((s.reason as { code?: string }).code ?? s.reason) : s.value))).toEqual([thenable, 'timeout', 'cancelled']);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });

  it('shares the global cap with tools, and runs by priority', async () => {
    const { fn, stats, releaseAll } = gate();
    const scheduler = new Scheduler({ maxParallel: 2, tools: [{ name: 'tool', run: fn('tool') }] });
    const all: Promise<unknown>[] = [scheduler.run({ tool: 'tool' }), scheduler.add(fn('first'))];
    all.push(scheduler.add(fn('low'), { priority: 0 }), scheduler.add(fn('high'), { priority: 5 }), scheduler.run({ tool: 'tool', priority: 1 }));
    expect([scheduler.running, scheduler.queued]).toEqual([2, 3]);
    await releaseAll();
    await Promise.all(all);
    expect(stats.max).toBe(2);
    expect(stats.order).toEqual(['tool', 'first', 'high', 'tool', 'low']);
  });

  it('a deadline aborts fn and rejects with timeout; a signal cancels it while queued', async () => {
    const scheduler = new Scheduler({ maxParallel: 1 });
    let aborted = false;
    const slow = scheduler.add(({ signal }) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => {
      aborted = true;
      reject(signal.reason);
    })), { timeoutMs: 20 });
    const controller = new AbortController();
    const queued = scheduler.add(() => 'never', { signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toMatchObject({ code: 'cancelled' });
    await expect(slow).rejects.toMatchObject({ code: 'timeout' });
    expect(aborted).toBe(true);
    await scheduler.onIdle();
    expect(scheduler.pending).toBe(0);
  });

  it('deadline and queue_full messages read right for a call without an id and for one call waiting', async () => {
    const { fn, releaseAll } = gate();
    const scheduler = new Scheduler({ maxParallel: 1, maxQueued: 1 });
    const running = scheduler.add(fn('a'), { timeoutMs: 20 });
    const queued = scheduler.add(fn('b'), { queueTimeoutMs: 10 });
    await expect(scheduler.add(fn('c'))).rejects.toThrow('The queue is full (1 call waiting); try again later');
    await expect(queued).rejects.toThrow(/^A call of tool "function" waited 10 ms in the queue without starting$/);
    await expect(running).rejects.toThrow(/^A call of tool "function" did not finish within 20 ms; its signal was aborted$/);
    const named = scheduler.add(fn('d'), { id: 'd', queueTimeoutMs: 10 });
    await expect(named).rejects.toThrow('Call "d" of tool "function" waited 10 ms in the queue without starting');
    await releaseAll();
    await scheduler.close();
  });

  it('observers see its calls as tool `function`, with the id given', async () => {
    const seen: string[] = [];
    const scheduler = new Scheduler({ observers: [{ onQueued: (c) => seen.push(`queued ${c.tool} ${c.id}`), onSettled: (r) => seen.push(`${r.status} ${r.tool} ${r.id}`) }] });
    expect(await scheduler.add(() => 7, { id: 'seven' })).toBe(7);
    await expect(scheduler.add(() => Promise.reject(new Error('x')), { id: 'bad' })).rejects.toThrow('x');
    expect(seen).toEqual(['queued function seven', 'ok function seven', 'queued function bad', 'error function bad']);
  });

  it('after close it rejects with code closed; a full queue rejects with queue_full', async () => {
    const { fn, releaseAll } = gate();
    const scheduler = new Scheduler({ maxParallel: 1, maxQueued: 1 });
    const running = scheduler.add(fn('a'));
    const queued = scheduler.add(fn('b'));
    await expect(scheduler.add(fn('c'))).rejects.toMatchObject({ code: 'queue_full' });
    const closing = scheduler.close();
    await expect(queued).rejects.toMatchObject({ code: 'closed' });
    await expect(scheduler.add(fn('d'))).rejects.toMatchObject({ code: 'closed' });
    await releaseAll();
    expect(await running).toBe('a');
    await closing;
  });
});

describe('wrap(fn, policy): a limited function', () => {
  it('keeps its own cap, passes arguments, retries per its policy and rejects with the raw error', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    const fetchLike = async (n: number, suffix: string): Promise<string> => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      if (n === 3 && ++calls < 3) throw Object.assign(new Error('flaky'), { retryable: true });
      if (n === 4) throw new RangeError('four');
      return `${n}${suffix}`;
    };
    const names: string[] = [];
    const scheduler = new Scheduler({ maxParallel: 10, observers: [{ onStart: (c) => void names.push(c.tool) }] });
    const limited = scheduler.wrap(fetchLike, { name: 'fetchLike', maxParallel: 2, retry: { retries: 3, minDelayMs: 1 } });
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => limited(n, '!')));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['1!', '2!', '3!', 'four', '5!']);
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect(most).toBe(2);
    expect(calls).toBe(3);
    expect(new Set(names)).toEqual(new Set(['fetchLike']));
  });

  it('checks its arguments at the door', () => {
    const scheduler = new Scheduler();
    expect(() => scheduler.wrap('x' as unknown as () => void)).toThrow('Expected `fn` to be a function');
    expect(() => scheduler.wrap(() => 1, { maxParallel: 0 })).toThrow(McpConcurrencyError);
  });
});

describe('unknown keys of add() options and wrap() policies are refused, naming the key', () => {
  it('add(): p-queue\'s `timeout` rejects with invalid_argument pointing at `timeoutMs`; fn never runs', async () => {
    const scheduler = new Scheduler();
    let ran = false;
    const attempt = scheduler.add(() => (ran = true), { timeout: 100 } as AddOptions);
    await expect(attempt).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('Unknown add() option `timeout`: use `timeoutMs`') });
    await expect(scheduler.add(() => 1, { priorty: 1 } as AddOptions)).rejects.toThrow(
      'Unknown add() option `priorty`; expected one of `signal`, `priority`, `timeoutMs`, `queueTimeoutMs`, `id`',
    );
    expect(ran).toBe(false);
    expect(await scheduler.add(() => 2, { priority: 1, timeoutMs: 100, id: 'x' })).toBe(2);
  });

  it('wrap(): p-limit\'s `concurrency` throws invalid_argument pointing at `maxParallel`', () => {
    const scheduler = new Scheduler();
    const make = () => scheduler.wrap(() => 1, { concurrency: 2 } as WrapPolicy);
    expect(make).toThrow(McpConcurrencyError);
    expect(make).toThrow('Unknown wrap() policy key `concurrency`: use `maxParallel`');
    expect(() => scheduler.wrap(() => 1, { weight: 2 } as WrapPolicy)).toThrow('use `cost`');
    expect(() => scheduler.wrap(() => 1, { name: 'f', maxParallel: 2, cost: 1, retry: 1, timeoutMs: 5, queueTimeoutMs: 5 })).not.toThrow();
  });
});

describe('pause, resume, clear and the queue events', () => {
  it('pause() stops starts, resume() starts again; paused: true starts paused', async () => {
    const scheduler = new Scheduler({ paused: true, tools: [{ name: 't', run: () => 'ran' }] });
    const result = scheduler.run({ tool: 't' });
    const value = scheduler.add(() => 'added');
    await new Promise((r) => setTimeout(r, 5));
    expect([scheduler.paused, scheduler.running, scheduler.queued]).toEqual([true, 0, 2]);
    scheduler.resume();
    expect((await result).value).toBe('ran');
    expect(await value).toBe('added');
    scheduler.pause();
    const later = scheduler.add(() => 'later');
    expect(scheduler.queued).toBe(1);
    scheduler.resume();
    expect(await later).toBe('later');
  });

  it('clear() cancels every call that has not started; running ones go on', async () => {
    const { fn, releaseAll } = gate();
    const scheduler = new Scheduler({ maxParallel: 1, tools: [{ name: 't', run: fn('t') }] });
    const running = scheduler.add(fn('running'));
    const queuedAdd = scheduler.add(fn('queued'));
    const queuedRun = scheduler.run({ tool: 't' });
    scheduler.clear();
    await expect(queuedAdd).rejects.toMatchObject({ code: 'cancelled' });
    expect(await queuedRun).toMatchObject({ status: 'cancelled', error: { code: 'cancelled', message: 'Cleared from the queue before it started' } });
    expect([scheduler.running, scheduler.queued]).toEqual([1, 0]);
    await releaseAll();
    expect(await running).toBe('running');
  });

  it('onSizeLessThan(n), onEmpty() and onIdle() resolve when their condition holds', async () => {
    const { fn, stats, open } = gate();
    const scheduler = new Scheduler({ maxParallel: 1 });
    const all = ['a', 'b', 'c', 'd'].map((label) => scheduler.add(fn(label)));
    const events: string[] = [];
    void scheduler.onSizeLessThan(3).then(() => events.push(`size<3 at ${stats.order.length}`));
    void scheduler.onEmpty().then(() => events.push(`empty at ${stats.order.length}`));
    void scheduler.onIdle().then(() => events.push('idle'));
    await expect(scheduler.onSizeLessThan(-1)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(scheduler.onSizeLessThan(4)).resolves.toBeUndefined(); // 3 queued now
    for (let i = 0; i < 4; i++) {
      await vi.waitFor(() => expect(open.length).toBe(1));
      open.shift()!();
    }
    await Promise.all(all);
    await scheduler.drain();
    expect(events).toEqual(['size<3 at 2', 'empty at 4', 'idle']);
  });
});

describe('the lifecycle contract', () => {
  it('close({ signal }) ends the grace when the signal aborts; close and destroy return one promise', async () => {
    const scheduler = new Scheduler({ tools: [{ name: 'hang', run: (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('stopped'))) }] });
    const call = scheduler.run({ tool: 'hang' } satisfies ToolCall);
    const controller = new AbortController();
    const closing = scheduler.close({ signal: controller.signal });
    expect(scheduler.close()).toBe(closing);
    await new Promise((r) => setTimeout(r, 5));
    expect(scheduler.running).toBe(1); // still in its grace
    controller.abort(new Error('deploy'));
    await closing;
    expect(scheduler.destroy()).toBe(closing);
    expect(await call).toMatchObject({ status: 'cancelled', error: { code: 'closed' } });
  });

  it('bad close options reject and leave the scheduler open', async () => {
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => 1 }] });
    await expect(scheduler.close({ graceMs: -1 })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('`graceMs`') });
    await expect(scheduler.close({ signal: 'x' as unknown as AbortSignal })).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(scheduler.closed).toBe(false);
    expect((await scheduler.run({ tool: 't' })).status).toBe('ok');
    await scheduler.close({ graceMs: 0 });
  });
});
