import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConcurrencyLimiter } from './concurrency-limiter.js';
import { McpConcurrencyError } from './errors.js';
import type { SchedulerOptions } from './options.js';
import { Scheduler } from './scheduler.js';
import type { Limiter, Permit, SchedulerObserver, Tool, ToolCall, ToolContext, ToolResult } from './types.js';

const delay = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

/** A tool that records how many of its calls run at once, as seen by the tool itself. */
function gauge(name: string, ms = 5, policy?: Tool['policy']) {
  const stats = { running: 0, max: 0, starts: [] as string[], aborted: 0 };
  const tool: Tool = {
    name,
    policy,
    async run(_params, ctx: ToolContext) {
      stats.running++;
      stats.max = Math.max(stats.max, stats.running);
      stats.starts.push(ctx.callId);
      try {
        await delay(ms, ctx.signal);
        return ctx.callId;
      } catch (error) {
        stats.aborted++;
        throw error;
      } finally {
        stats.running--;
      }
    },
  };
  return { tool, stats };
}

/** A tool whose calls finish only when the test says so. */
function manual(name: string) {
  const pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void; signal: AbortSignal }>();
  const tool: Tool = {
    name,
    run: (_p, ctx) =>
      new Promise((resolve, reject) => {
        pending.set(ctx.callId, { resolve, reject, signal: ctx.signal });
      }),
  };
  return { tool, pending };
}

const calls = (tool: string, n: number, extra: Partial<ToolCall> = {}): ToolCall[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${tool}-${i}`, tool, ...extra }));

afterEach(() => {
  vi.useRealTimers();
});

describe('limits', () => {
  it('never runs more than maxParallel at once, measured by the tools', async () => {
    const { tool, stats } = gauge('t', 3);
    const scheduler = new Scheduler({ maxParallel: 4, tools: [tool] });
    const results = await scheduler.runBatch(calls('t', 40));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(stats.max).toBe(4);
  });

  it('holds a per-tool cap under the global one', async () => {
    // Calls finish only when the test says so: one of each tool per step, so no clock decides the result.
    const a = manual('a');
    const b = manual('b');
    const scheduler = new Scheduler({ maxParallel: 5, tools: [{ ...a.tool, policy: { maxParallel: 2 } }, b.tool] });
    const batch = scheduler.runBatch([...calls('a', 20), ...calls('b', 20)]);
    const running: [number, number][] = [];
    do {
      await new Promise((resolve) => setImmediate(resolve));
      running.push([a.pending.size, b.pending.size]);
      for (const pending of [a.pending, b.pending]) {
        const [id, call] = pending.entries().next().value ?? [];
        if (id === undefined) continue;
        pending.delete(id);
        call!.resolve(id);
      }
    } while (a.pending.size + b.pending.size > 0);
    expect((await batch).every((r) => r.status === 'ok')).toBe(true);
    expect(running[0]).toEqual([2, 3]); // a at its cap, b in every global slot a does not use, and no more
    for (const [ra, rb] of running) {
      expect(ra).toBeLessThanOrEqual(2);
      expect(ra + rb).toBeLessThanOrEqual(5);
    }
  });

  it('holds per-key caps across tools', async () => {
    const running = new Map<string, number>();
    let worst = 0;
    const make = (name: string): Tool<{ tenant: string }> => ({
      name,
      async run(params) {
        const n = (running.get(params.tenant) ?? 0) + 1;
        running.set(params.tenant, n);
        worst = Math.max(worst, n);
        await delay(2);
        running.set(params.tenant, n - 1);
      },
    });
    const scheduler = new Scheduler({
      maxParallel: 20,
      tools: [make('x'), make('y')],
      key: (call) => (call.params as { tenant: string }).tenant,
      maxPerKey: 2,
    });
    const batch: ToolCall[] = [];
    for (let i = 0; i < 60; i++) batch.push({ tool: i % 2 ? 'x' : 'y', params: { tenant: `t${i % 3}` } });
    const results = await scheduler.runBatch(batch);
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(worst).toBe(2);
  });

  it('has no head-of-line blocking: a capped tool never holds a global slot another tool could use', async () => {
    const slow = manual('slow');
    const fast = gauge('fast', 1);
    const scheduler = new Scheduler({ maxParallel: 3, tools: [slow.tool, fast.tool], policies: { slow: { maxParallel: 1 } } });
    const slowResults = scheduler.runBatch(calls('slow', 10));
    const fastResults = await scheduler.runBatch(calls('fast', 10));
    expect(fastResults.every((r) => r.status === 'ok')).toBe(true);
    expect(fast.stats.max).toBe(2); // one slot is the running slow call; the queued slow calls hold none
    expect(scheduler.queued).toBe(9);
    for (let i = 0; i < 10; i++) {
      await vi.waitFor(() => expect(slow.pending.has(`slow-${i}`)).toBe(true));
      slow.pending.get(`slow-${i}`)!.resolve(i);
    }
    expect((await slowResults).map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('changes limits at run time', async () => {
    const { tool, stats } = gauge('t', 5);
    const scheduler = new Scheduler({ maxParallel: 1, tools: [tool] });
    const done = scheduler.runBatch(calls('t', 30));
    await delay(12);
    scheduler.setMaxParallel(6);
    await done;
    expect(stats.max).toBe(6);
    scheduler.setToolPolicy('t', { maxParallel: 2 });
    stats.max = 0;
    await scheduler.runBatch(calls('t', 20));
    expect(stats.max).toBe(2);
  });

  it('waits for named limiters without holding slots, and takes their permits only at start', async () => {
    const gate = new ConcurrencyLimiter(1);
    const held = await gate.acquire();
    const limited = gauge('limited', 1, { limiters: ['gate'] });
    const free = gauge('free', 1);
    const scheduler = new Scheduler({ maxParallel: 2, tools: [limited.tool, free.tool], limiters: { gate } });
    const waiting = scheduler.run({ id: 'l', tool: 'limited' });
    // The limited call waits on its limiter; both global slots stay free for other work.
    const frees = await scheduler.runBatch(calls('free', 6));
    expect(frees.every((r) => r.status === 'ok')).toBe(true);
    expect(free.stats.max).toBe(2);
    expect(limited.stats.starts).toEqual([]);
    held.release();
    expect((await waiting).status).toBe('ok');
    expect(gate.inUse).toBe(0);
  });

  it('reports limiter waits to observers and refuses with the limiter code', async () => {
    const waits: [string, number][] = [];
    const refusing: Limiter = {
      acquire: () => Promise.reject(new McpConcurrencyError('rate_limited', 'no tokens', { retryAfterMs: 250 })),
    };
    const ok = gauge('ok', 1, { limiters: ['gate'] });
    const no = gauge('no', 1, { limiters: ['refuse'] });
    const scheduler = new Scheduler({
      tools: [ok.tool, no.tool],
      limiters: { gate: new ConcurrencyLimiter(5), refuse: refusing },
      observers: [{ onLimiterWait: (name, ms) => waits.push([name, ms]) }],
    });
    const [a, b] = await scheduler.runBatch([{ tool: 'ok' }, { tool: 'no' }]);
    expect(a!.status).toBe('ok');
    expect(b).toMatchObject({ status: 'rejected', error: { code: 'rate_limited', retryAfterMs: 250 } });
    expect(waits.map(([n]) => n)).toEqual(['gate']);
  });

  it('rejects a call whose limiter is not registered, naming it', async () => {
    const t = gauge('t', 1, { limiters: ['nope'] });
    const scheduler = new Scheduler({ tools: [t.tool] });
    const result = await scheduler.run({ tool: 't' });
    expect(result.status).toBe('rejected');
    expect(result.error?.message).toContain('"nope"');
  });
});

describe('priorities', () => {
  it('runs higher priority first, FIFO within a priority, across tools', async () => {
    const order: string[] = [];
    const record = (name: string): Tool => ({ name, run: (_p, ctx) => void order.push(ctx.callId) });
    const blocker = manual('block');
    const scheduler = new Scheduler({ maxParallel: 1, tools: [record('a'), record('b'), blocker.tool] });
    const block = scheduler.run({ id: 'block', tool: 'block' });
    const batch = scheduler.runBatch([
      { id: 'a-low-1', tool: 'a', priority: 0 },
      { id: 'b-high-1', tool: 'b', priority: 5 },
      { id: 'a-mid', tool: 'a', priority: 2 },
      { id: 'b-low-2', tool: 'b', priority: 0 },
      { id: 'a-high-2', tool: 'a', priority: 5 },
      { id: 'a-low-3', tool: 'a' },
    ]);
    blocker.pending.get('block')!.resolve(undefined);
    await block;
    await batch;
    expect(order).toEqual(['b-high-1', 'a-high-2', 'a-mid', 'a-low-1', 'b-low-2', 'a-low-3']);
  });
});

describe('deadlines and cancellation', () => {
  it('a run timeout aborts the tool signal and settles as timeout; the slot is held until the tool returns', async () => {
    const { tool, stats } = gauge('t', 1_000);
    const scheduler = new Scheduler({ maxParallel: 1, tools: [tool], policies: { t: { timeoutMs: 20 } } });
    const result = await scheduler.run({ id: 'x', tool: 't' });
    expect(result).toMatchObject({ status: 'timeout', error: { code: 'timeout' }, attempts: 1 });
    expect(result.error?.message).toContain('20 ms');
    await scheduler.drain();
    expect(stats.aborted).toBe(1);
    expect(scheduler.running).toBe(0);
  });

  it('a tool that ignores its signal keeps its slot until it returns (limits stay true)', async () => {
    let running = 0;
    let max = 0;
    const stubborn: Tool = {
      name: 's',
      async run() {
        running++;
        max = Math.max(max, running);
        await delay(30); // ignores ctx.signal
        running--;
      },
    };
    const scheduler = new Scheduler({ maxParallel: 1, tools: [stubborn], timeoutMs: 5 });
    const results = await scheduler.runBatch(calls('s', 3));
    expect(results.map((r) => r.status)).toEqual(['timeout', 'timeout', 'timeout']);
    expect(max).toBe(1);
    await scheduler.drain();
  });

  it('a queue deadline settles a waiting call as timeout with code queue_timeout', async () => {
    const blocker = manual('b');
    const scheduler = new Scheduler({ maxParallel: 1, tools: [blocker.tool] });
    void scheduler.run({ id: 'first', tool: 'b' });
    const second = await scheduler.run({ id: 'second', tool: 'b', queueTimeoutMs: 15 });
    expect(second).toMatchObject({ status: 'timeout', error: { code: 'queue_timeout' }, attempts: 0 });
    expect(scheduler.queued).toBe(0);
    blocker.pending.get('first')!.resolve(1);
    await scheduler.drain();
  });

  it('cancels a queued call at once: it leaves the queue and counts against nothing', async () => {
    const blocker = manual('b');
    const scheduler = new Scheduler({ maxParallel: 1, maxQueued: 1, tools: [blocker.tool] });
    void scheduler.run({ id: 'first', tool: 'b' });
    const controller = new AbortController();
    const queued = scheduler.run({ id: 'q', tool: 'b' }, { signal: controller.signal });
    expect(scheduler.queued).toBe(1);
    controller.abort(new Error('user pressed stop'));
    const result = await queued;
    expect(result).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' }, attempts: 0 });
    expect(result.error?.message).toContain('user pressed stop');
    expect(scheduler.queued).toBe(0);
    // The freed queue place is usable at once.
    const next = scheduler.run({ id: 'next', tool: 'b' });
    expect(scheduler.queued).toBe(1);
    blocker.pending.get('first')!.resolve(1);
    await vi.waitFor(() => expect(blocker.pending.has('next')).toBe(true));
    blocker.pending.get('next')!.resolve(2);
    expect((await next).value).toBe(2);
  });

  it('cancels a running call by aborting its signal', async () => {
    const { tool, stats } = gauge('t', 10_000);
    const scheduler = new Scheduler({ tools: [tool] });
    const controller = new AbortController();
    const pending = scheduler.run({ tool: 't' }, { signal: controller.signal });
    await vi.waitFor(() => expect(stats.running).toBe(1));
    controller.abort();
    expect((await pending).status).toBe('cancelled');
    await scheduler.drain();
    expect(stats.aborted).toBe(1);
  });

  it('cancels a call waiting for a limiter, and it takes no permit', async () => {
    const gate = new ConcurrencyLimiter(1);
    const held = await gate.acquire();
    const t = gauge('t', 1, { limiters: ['gate'] });
    const scheduler = new Scheduler({ tools: [t.tool], limiters: { gate } });
    const controller = new AbortController();
    const pending = scheduler.run({ tool: 't' }, { signal: controller.signal });
    await vi.waitFor(() => expect(gate.waiting).toBe(1));
    controller.abort();
    expect((await pending).status).toBe('cancelled');
    expect(gate.waiting).toBe(0);
    held.release();
    expect(gate.inUse).toBe(0);
  });

  it('cancels a call waiting to retry', async () => {
    let attempts = 0;
    const flaky: Tool = {
      name: 'f',
      run: () => {
        attempts++;
        throw Object.assign(new Error('flaky'), { retryable: true });
      },
      policy: { retry: { retries: 5, minDelayMs: 10_000 } },
    };
    const scheduler = new Scheduler({ tools: [flaky] });
    const controller = new AbortController();
    const pending = scheduler.run({ tool: 'f' }, { signal: controller.signal });
    await vi.waitFor(() => expect(attempts).toBe(1));
    controller.abort();
    expect(await pending).toMatchObject({ status: 'cancelled', attempts: 1 });
    await scheduler.drain();
  });

  it('settles an already aborted signal as cancelled without running', async () => {
    const { tool, stats } = gauge('t');
    const scheduler = new Scheduler({ tools: [tool] });
    const result = await scheduler.run({ tool: 't' }, { signal: AbortSignal.abort() });
    expect(result.status).toBe('cancelled');
    expect(stats.starts).toEqual([]);
  });
});

describe('retries', () => {
  it('retries errors marked retryable with full-jitter backoff, slots released while waiting', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const flaky: Tool = {
      name: 'f',
      policy: { retry: { retries: 3, minDelayMs: 100, factor: 2 } },
      run: (_p, ctx) => {
        calls++;
        if (ctx.attempt < 3) throw new McpConcurrencyError('http_error', 'HTTP 503', { retryable: true });
        return `ok on ${ctx.attempt}`;
      },
    };
    const other = gauge('other', 1);
    const retries: number[] = [];
    const scheduler = new Scheduler({
      maxParallel: 1,
      tools: [flaky, other.tool],
      random: () => 0.5,
      observers: [{ onRetry: (_c, attempt, ms) => retries.push(attempt, ms) }],
    });
    const result = scheduler.run({ tool: 'f' });
    await vi.advanceTimersByTimeAsync(0);
    // While f waits to retry, its slot is free for other calls.
    const otherResult = scheduler.run({ tool: 'other' });
    await vi.advanceTimersByTimeAsync(5);
    expect((await otherResult).status).toBe('ok');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await result).toMatchObject({ status: 'ok', value: 'ok on 3', attempts: 3 });
    expect(calls).toBe(3);
    expect(retries).toEqual([2, 50, 3, 100]); // 0.5 * 100, 0.5 * 200
  });

  it('does not retry errors not marked retryable, nor beyond the retry budget', async () => {
    let n = 0;
    const tool: Tool = { name: 't', policy: { retry: { retries: 2, minDelayMs: 1 } }, run: () => {
      n++;
      throw Object.assign(new Error('always'), { retryable: n > 0 });
    } };
    const plain: Tool = { name: 'p', policy: { retry: 5 }, run: () => Promise.reject(new Error('not retryable')) };
    const scheduler = new Scheduler({ tools: [tool, plain] });
    const [a, b] = await scheduler.runBatch([{ tool: 't' }, { tool: 'p' }]);
    expect(a).toMatchObject({ status: 'error', attempts: 3, error: { code: 'tool_error', message: 'always' } });
    expect(b).toMatchObject({ status: 'error', attempts: 1 });
  });

  it('waits at least the retryAfterMs a failure asks for', async () => {
    vi.useFakeTimers();
    let attempt = 0;
    const tool: Tool = { name: 't', policy: { retry: { retries: 1, minDelayMs: 1 } }, run: () => {
      if (++attempt === 1) throw new McpConcurrencyError('rate_limited', '429', { retryable: true, retryAfterMs: 5_000 });
      return 'done';
    } };
    const scheduler = new Scheduler({ tools: [tool], random: () => 0 });
    const result = scheduler.run({ tool: 't' });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(attempt).toBe(1);
    await vi.advanceTimersByTimeAsync(2);
    expect((await result).value).toBe('done');
  });
});

describe('results for every failure kind', () => {
  const cases: [string, Tool['run'], Partial<ToolResult>][] = [
    ['a value', () => 42, { status: 'ok', value: 42 }],
    ['an async value', async () => 'x', { status: 'ok', value: 'x' }],
    ['a sync throw', () => {
      throw new Error('sync boom');
    }, { status: 'error', error: { code: 'tool_error', message: 'sync boom' } }],
    ['a rejected promise', () => Promise.reject(new Error('async boom')), { status: 'error', error: { code: 'tool_error', message: 'async boom' } }],
    ['a thrown string', () => {
      throw 'just a string';
    }, { status: 'error', error: { code: 'tool_error', message: 'just a string' } }],
    ['a thrown object', () => Promise.reject({ weird: true }), { status: 'error', error: { code: 'tool_error', message: 'non-Error thrown: {"weird":true}' } }],
    ['a thrown undefined', () => Promise.reject(undefined), { status: 'error', error: { code: 'tool_error', message: 'non-Error thrown: undefined' } }],
    ['a coded error', () => {
      throw new McpConcurrencyError('response_too_large', 'too big');
    }, { status: 'error', error: { code: 'response_too_large', message: 'too big' } }],
    ['a thenable', () => ({ then: (ok: (v: number) => void) => ok(7) }) as unknown as Promise<number>, { status: 'ok', value: 7 }],
  ];
  it.each(cases)('%s', async (_name, run, expected) => {
    const scheduler = new Scheduler({ tools: [{ name: 't', run }] });
    const result = await scheduler.run({ id: 'c', tool: 't' });
    expect(result).toMatchObject({ id: 'c', tool: 't', attempts: 1, ...expected });
  });

  it('an unknown tool, a malformed call, a full queue and a closed scheduler each get a result', async () => {
    const blocker = manual('b');
    const scheduler = new Scheduler({ maxParallel: 1, maxQueued: 1, tools: [blocker.tool] });
    const results = await Promise.all([
      scheduler.run({ id: 'u', tool: 'nope' }),
      scheduler.run(null as unknown as ToolCall),
      scheduler.run({ id: 'p', tool: 'b', priority: Number.NaN }),
    ]);
    expect(results.map((r) => [r.status, r.error?.code])).toEqual([
      ['rejected', 'unknown_tool'],
      ['rejected', 'invalid_argument'],
      ['rejected', 'invalid_argument'],
    ]);
    expect(results[0]!.error!.message).toBe('Unknown tool "nope" (registered: b)');
    void scheduler.run({ id: 'running', tool: 'b' });
    const queued = scheduler.run({ id: 'queued', tool: 'b' });
    const full = await scheduler.run({ id: 'full', tool: 'b' });
    expect(full).toMatchObject({ status: 'rejected', error: { code: 'queue_full' } });
    const closing = scheduler.close({ graceMs: 0 });
    expect(await queued).toMatchObject({ status: 'cancelled', error: { code: 'closed' } });
    expect(await scheduler.run({ tool: 'b' })).toMatchObject({ status: 'rejected', error: { code: 'closed' } });
    await closing;
  });
});

describe('lifecycle', () => {
  it('drain waits for all work, including retries', async () => {
    let n = 0;
    const tool: Tool = { name: 't', policy: { retry: { retries: 2, minDelayMs: 5 } }, run: async () => {
      await delay(2);
      if (++n % 2) throw Object.assign(new Error('x'), { retryable: true });
    } };
    const scheduler = new Scheduler({ tools: [tool] });
    const all = scheduler.runBatch(calls('t', 5));
    await scheduler.drain();
    expect(scheduler.pending).toBe(0);
    expect(scheduler.running).toBe(0);
    expect((await all).every((r) => r.status === 'ok' || r.status === 'error')).toBe(true);
  });

  it('close lets running calls finish and cancels the queued', async () => {
    const { tool, stats } = gauge('t', 20);
    const scheduler = new Scheduler({ maxParallel: 2, tools: [tool] });
    const all = scheduler.runBatch(calls('t', 5));
    await vi.waitFor(() => expect(stats.running).toBe(2));
    await scheduler.close();
    const results = await all;
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'cancelled', 'cancelled', 'cancelled']);
    expect(stats.aborted).toBe(0);
    expect(scheduler.close()).toBe(scheduler.close()); // idempotent
  });

  it('close aborts running calls after the grace period; destroy aborts at once', async () => {
    const a = gauge('a', 10_000);
    const s1 = new Scheduler({ tools: [a.tool] });
    const r1 = s1.run({ tool: 'a' });
    await vi.waitFor(() => expect(a.stats.running).toBe(1));
    await s1.close({ graceMs: 20 });
    expect(await r1).toMatchObject({ status: 'cancelled', error: { code: 'closed' } });

    const s2 = new Scheduler({ tools: [a.tool] });
    const r2 = s2.run({ tool: 'a' });
    await vi.waitFor(() => expect(a.stats.running).toBe(1));
    await s2.destroy();
    expect((await r2).status).toBe('cancelled');
    await s2.drain();
    expect(a.stats.aborted).toBe(2);
  });

  it('destroy from inside a tool cancels that call too, before destroy resolves', async () => {
    let seenAborted: boolean | undefined;
    let destroyed: Promise<void> | undefined;
    const scheduler: Scheduler = new Scheduler({
      tools: [
        { name: 'slow', run: (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)) },
        {
          name: 'sync',
          run: (_p, ctx) => {
            destroyed = scheduler.destroy(new Error('shutting down'));
            seenAborted = ctx.signal.aborted;
            return 'done anyway';
          },
        },
      ],
    });
    const slow = scheduler.run({ id: 's', tool: 'slow' });
    const sync = scheduler.run({ id: 'x', tool: 'sync' });
    let syncSettled = false;
    void sync.then(() => (syncSettled = true));
    await destroyed;
    await Promise.resolve();
    expect(syncSettled).toBe(true);
    expect(seenAborted).toBe(true);
    expect(await sync).toMatchObject({ status: 'cancelled', error: { code: 'closed' } });
    expect(await slow).toMatchObject({ status: 'cancelled', error: { code: 'closed' } });
  });

  it('observers see every hook, cost nothing when absent and cannot break a call', async () => {
    const seen: string[] = [];
    const observer: SchedulerObserver = {
      onQueued: (c) => seen.push(`queued ${c.id}`),
      onStart: (c, _w, attempt) => seen.push(`start ${c.id} ${attempt}`),
      onSettled: (r) => seen.push(`settled ${r.id} ${r.status}`),
    };
    const broken: SchedulerObserver = { onSettled: () => { throw new Error('observer bug'); } };
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => 1 }], observers: [broken, observer] });
    const result = await scheduler.run({ id: 'a', tool: 't' });
    expect(result.status).toBe('ok');
    expect(seen).toEqual(['queued a', 'start a 1', 'settled a ok']);
  });

  it('hands onSettled and onLimiterWait the call onQueued saw, refused calls included', async () => {
    const queued = new Set<ToolCall>();
    const paired: string[] = [];
    const observer: SchedulerObserver = {
      onQueued: (c) => void queued.add(c),
      onLimiterWait: (name, _ms, c) => void paired.push(`wait ${name} ${c !== undefined && queued.has(c)}`),
      onSettled: (r, c) => void paired.push(`settled ${r.status} ${c !== undefined && queued.has(c)} ${c?.tool}`),
    };
    const scheduler = new Scheduler({
      maxParallel: 1,
      maxQueued: 1,
      tools: [{ name: 't', run: () => delay(5), policy: { limiters: ['gate'] } }],
      limiters: { gate: new ConcurrencyLimiter(5) },
      observers: [observer],
    });
    // One runs, one waits in the queue, the third would have to wait too: refused (queue_full), its hooks paired.
    await scheduler.runBatch([{ tool: 't' }, { tool: 't' }, { tool: 't' }]);
    expect(paired).toEqual(['wait gate true', 'settled rejected true t', 'settled ok true t', 'wait gate true', 'settled ok true t']);
  });

  it('counts queued and running at any time', async () => {
    const blocker = manual('b');
    const scheduler = new Scheduler({ maxParallel: 2, tools: [blocker.tool] });
    const all = scheduler.runBatch(calls('b', 5));
    expect([scheduler.running, scheduler.queued, scheduler.pending]).toEqual([2, 3, 5]);
    for (let i = 0; i < 5; i++) {
      await vi.waitFor(() => expect(blocker.pending.has(`b-${i}`)).toBe(true));
      blocker.pending.get(`b-${i}`)!.resolve(i);
    }
    await all;
    expect([scheduler.running, scheduler.queued, scheduler.pending]).toEqual([0, 0, 0]);
  });
});

describe('options are validated at the door', () => {
  const bad: [string, () => unknown, string][] = [
    ['maxParallel string', () => new Scheduler({ maxParallel: '10' as unknown as number }), 'Expected `maxParallel` to be an integer >= 1 or Infinity, got `"10"` (string)'],
    ['maxParallel 0', () => new Scheduler({ maxParallel: 0 }), 'Expected `maxParallel` to be an integer >= 1 or Infinity, got `0` (number)'],
    ['maxQueued -1', () => new Scheduler({ maxQueued: -1 }), 'Expected `maxQueued` to be an integer >= 0 or Infinity, got `-1` (number)'],
    ['maxPerKey without key', () => new Scheduler({ maxPerKey: 2 }), 'Expected `key` to be a function when `maxPerKey` is set'],
    ['tool without run', () => new Scheduler({ tools: [{ name: 'x' } as unknown as Tool] }), 'Expected `tool.run (of "x")` to be a function'],
    ['policy maxParallel', () => new Scheduler({ tools: [{ name: 'x', run: () => 1, policy: { maxParallel: 1.5 } }] }), 'Expected `tools.x.maxParallel` to be an integer >= 1'],
    ['retry', () => new Scheduler({ tools: [{ name: 'x', run: () => 1, policy: { retry: { retries: -1 } } }] }), 'Expected `tools.x.retry.retries` to be an integer >= 0'],
    ['limiter', () => new Scheduler({ limiters: { a: {} as Limiter } }), 'Expected `limiters.a` to be a Limiter'],
  ];
  it.each(bad)('%s', (_name, make, message) => {
    expect(make).toThrow(McpConcurrencyError);
    expect(make).toThrow(message);
  });
});

describe('unknown options are refused, naming the key and what to use instead', () => {
  const named: [string, string][] = [
    ['concurrency', 'Unknown Scheduler option `concurrency`: use `maxParallel`'],
    ['maxConcurrent', 'Unknown Scheduler option `maxConcurrent`: use `maxParallel`'],
    ['autoStart', 'Unknown Scheduler option `autoStart`: use `paused: true`'],
    ['timeout', 'Unknown Scheduler option `timeout`: use `timeoutMs`'],
    ['intervalCap', 'Unknown Scheduler option `intervalCap`: a rate limit is a named limiter here'],
    ['interval', 'Unknown Scheduler option `interval`: a rate limit is a named limiter here'],
    ['minTime', 'Unknown Scheduler option `minTime`: a rate limit is a named limiter here'],
  ];
  it.each(named)('p-queue / p-limit / Bottleneck `%s`', (key, message) => {
    const make = () => new Scheduler({ [key]: 2 } as SchedulerOptions);
    expect(make).toThrow(McpConcurrencyError);
    expect(make).toThrow(message);
    try {
      make();
    } catch (error) {
      expect((error as McpConcurrencyError).code).toBe('invalid_argument');
    }
  });

  it('a typo lists the known options, even with an undefined value', () => {
    expect(() => new Scheduler({ maxParalel: 2 } as SchedulerOptions)).toThrow(
      'Unknown Scheduler option `maxParalel`; expected one of `maxParallel`, `maxQueued`, ',
    );
    expect(() => new Scheduler({ maxParallel: 2, concurrency: undefined } as SchedulerOptions)).toThrow('`concurrency`');
  });

  it('every known option is accepted, and a proxy whose keys cannot be listed is refused, never thrown raw', () => {
    expect(() => new Scheduler({ maxParallel: 2, maxQueued: 3, timeoutMs: 10, queueTimeoutMs: 10, paused: false, random: Math.random })).not.toThrow();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(() => new Scheduler(proxy as SchedulerOptions)).toThrow('Expected `options` to be an options object whose keys can be read');
  });
});

describe('a limiter with tryAcquire starts calls without a promise round trip', () => {
  it('uses tryAcquire and releases every permit', async () => {
    let tries = 0;
    let inUse = 0;
    const limiter: Limiter = {
      tryAcquire: () => {
        tries++;
        inUse++;
        const permit: Permit = { release: () => void inUse-- };
        return permit;
      },
      acquire: () => Promise.reject(new Error('not expected')),
    };
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => 1, policy: { limiters: ['l'] } }], limiters: { l: limiter } });
    const results = await scheduler.runBatch(calls('t', 5));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(tries).toBe(5);
    expect(inUse).toBe(0);
  });
});

describe('toolStats', () => {
  it('counts running and queued calls per tool, and returns to zero', async () => {
    const a = manual('a');
    const scheduler = new Scheduler({ maxParallel: 2, tools: [a.tool, { name: 'b', run: () => 1 }] });
    const all = scheduler.runBatch(calls('a', 5));
    expect(scheduler.toolStats()).toEqual({ a: { running: 2, queued: 3 }, b: { running: 0, queued: 0 } });
    for (let i = 0; i < 5; i++) {
      await vi.waitFor(() => expect(a.pending.has(`a-${i}`)).toBe(true));
      a.pending.get(`a-${i}`)!.resolve(i);
    }
    await all;
    expect(scheduler.toolStats()['a']).toEqual({ running: 0, queued: 0 });
  });
});

describe('runBatch with a signal', () => {
  it('one abort cancels every unsettled call of the batch, queued or running; settled ones keep their result', async () => {
    const blocker = manual('b');
    const scheduler = new Scheduler({ maxParallel: 2, tools: [blocker.tool, { name: 'quick', run: () => 'done' }] });
    const controller = new AbortController();
    const all = scheduler.runBatch([{ tool: 'quick' }, ...calls('b', 4)], { signal: controller.signal });
    await vi.waitFor(() => expect(blocker.pending.size).toBe(2));
    controller.abort(new Error('stop'));
    const results = await all;
    expect(results.map((r) => r.status)).toEqual(['ok', 'cancelled', 'cancelled', 'cancelled', 'cancelled']);
    expect(results[1]!.error!.message).toContain('stop');
    expect(blocker.pending.get('b-0')!.signal.aborted).toBe(true);
    expect(scheduler.queued).toBe(0);
  });
});

describe('runBatch results', () => {
  it('come back in input order; a call without an id is known by its index, to its tool and in its result', async () => {
    const seenIds: string[] = [];
    const observed: ToolCall[] = [];
    const scheduler = new Scheduler({
      maxParallel: 2,
      tools: [{ name: 't', run: async (params: unknown, ctx) => {
        seenIds.push(ctx.callId);
        await delay(((params as number) % 3) + 1);
        return params;
      } }],
      observers: [{ onQueued: (call) => observed.push(call) }],
    });
    const given: ToolCall[] = [{ tool: 't', params: 0 }, { tool: 'nope' }, { id: 'named', tool: 't', params: 2 }, { tool: 't', params: 3 }];
    const results = await scheduler.runBatch(given);
    expect(results.map((r) => [r.id, r.status, r.value])).toEqual([
      ['0', 'ok', 0],
      ['1', 'rejected', undefined],
      ['named', 'ok', 2],
      ['3', 'ok', 3],
    ]);
    expect(seenIds.sort()).toEqual(['0', '3', 'named']);
    expect(observed).toEqual([given[0], given[2], given[3]]); // the caller's own objects
  });

  it('keep their slots when a key function submits other calls in the middle of the batch', async () => {
    const side: Promise<ToolResult>[] = [];
    const scheduler: Scheduler = new Scheduler({
      maxParallel: 1,
      tools: [{ name: 't', run: (params: unknown) => params }],
      key: (call) => {
        if (call.params === 1 && side.length === 0) side.push(scheduler.run({ id: 'side', tool: 't', params: 'side' }));
        return undefined;
      },
    });
    const results = await scheduler.runBatch([0, 1, 2, 3].map((n) => ({ tool: 't', params: n })));
    expect(results.map((r) => [r.id, r.value])).toEqual([['0', 0], ['1', 1], ['2', 2], ['3', 3]]);
    expect((await side[0]!).value).toBe('side');
  });

  it('a call that timed out keeps its index id for the tool that runs on', async () => {
    const idsAfterTimeout: string[] = [];
    const scheduler = new Scheduler({
      tools: [{ name: 'late', policy: { timeoutMs: 5 }, run: async (_p, ctx) => {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        await delay(1);
        idsAfterTimeout.push(ctx.callId);
      } }],
    });
    const [first, second] = await scheduler.runBatch([{ id: 'a', tool: 'late' }, { tool: 'late' }]);
    expect([first!.status, second!.status, second!.id]).toEqual(['timeout', 'timeout', '1']);
    await scheduler.drain();
    expect(idsAfterTimeout.sort()).toEqual(['1', 'a']);
  });

  it('an empty batch resolves at once with no results', async () => {
    expect(await new Scheduler().runBatch([])).toEqual([]);
  });
});

describe('maxPerKey as a function', () => {
  it('gives each key its own limit', async () => {
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const tool: Tool<{ key: string }> = {
      name: 't',
      async run({ key }) {
        running.set(key, (running.get(key) ?? 0) + 1);
        most.set(key, Math.max(most.get(key) ?? 0, running.get(key)!));
        await delay(3);
        running.set(key, running.get(key)! - 1);
      },
    };
    const scheduler = new Scheduler({
      maxParallel: 20,
      tools: [tool],
      key: (call) => (call.params as { key: string }).key,
      maxPerKey: (key) => (key.startsWith('resource:') ? 1 : 3),
    });
    const batch = Array.from({ length: 24 }, (_, i) => ({ tool: 't', params: { key: i % 2 ? 'resource:file-a' : 'session:s1' } }));
    await scheduler.runBatch(batch);
    expect(Object.fromEntries(most)).toEqual({ 'resource:file-a': 1, 'session:s1': 3 });
  });
});

describe('a thenable that misbehaves', () => {
  it('calling back twice (or both ways) settles the call once and frees its slot once', async () => {
    const twice: Tool = {
      name: 'twice',
      run: () => ({ then: (ok: (v: unknown) => void, err: (e: unknown) => void) => {
        ok(1);
        ok(2);
        err(new Error('late'));
      } }) as unknown as Promise<unknown>,
    };
    const settled: ToolResult[] = [];
    const scheduler = new Scheduler({ maxParallel: 1, tools: [twice], observers: [{ onSettled: (r) => void settled.push(r) }] });
    const results = await scheduler.runBatch(calls('twice', 3));
    expect(results.map((r) => [r.status, r.value])).toEqual([['ok', 1], ['ok', 1], ['ok', 1]]);
    expect(settled).toHaveLength(3);
    expect([scheduler.running, scheduler.queued]).toEqual([0, 0]);
  });
});
