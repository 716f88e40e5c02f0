import { describe, expect, it } from 'vitest';
import { McpConcurrencyError } from './errors.js';
import { Scheduler } from './scheduler.js';
import type { Tool, ToolCall, ToolResult } from './types.js';

const trap = (): never => {
  throw new Error('trap');
};
/** Every read, `instanceof`, `typeof`-adjacent trap and conversion throws. */
const hostile = (): object =>
  new Proxy({}, { get: trap, getPrototypeOf: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap });
const revoked = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
};
/** Carries the project's error brand, so it passes `instanceof McpConcurrencyError`, but its fields throw. */
const fakeCoded = (): object =>
  new Proxy({}, { get: (_t, key) => (key === Symbol.for('mcp-concurrency.error') ? true : trap()) });
const throwingGetter = (key: string, extra: object = {}): object =>
  Object.defineProperty({ ...extra }, key, { get: trap, enumerable: true });

/** What a tool may do: each entry returns or throws something, sync or async. */
const BEHAVIOURS: Record<string, () => unknown> = {
  'returns a value': () => 1,
  'resolves a value': async () => 2,
  'returns a hostile value': () => hostile(),
  'resolves a hostile value': async () => hostile(),
  'returns a revoked proxy': () => revoked(),
  'returns an object whose then getter throws': () => throwingGetter('then'),
  'returns a thenable whose then throws': () => ({ then: trap }),
  'returns a thenable that calls back, then throws': () => ({ then: (ok: (v: unknown) => void) => { ok(3); trap(); } }),
  'returns a thenable that calls back twice, later': () => ({
    then: (ok: (v: unknown) => void, err: (e: unknown) => void) => void setTimeout(() => { ok(4); err(new Error('second callback')); setTimeout(() => ok(5), 2); }, 1),
  }),
  'throws an Error': () => { throw new Error('plain'); },
  'throws undefined': () => { throw undefined; },
  'throws null': () => { throw null; },
  'throws a hostile value': () => { throw hostile(); },
  'throws a revoked proxy': () => { throw revoked(); },
  'throws a fake coded error': () => { throw fakeCoded(); },
  'throws an Error whose message getter throws': () => { throw throwingGetter('message', new Error('x')); },
  'rejects with a hostile value': () => Promise.reject(hostile()),
  'rejects with a retryable error whose retryAfterMs throws': () => Promise.reject(throwingGetter('retryAfterMs', { retryable: true })),
  'throws a coded error': () => { throw new McpConcurrencyError('db_error', 'coded'); },
};
const NAMES = Object.keys(BEHAVIOURS);

/** A seeded generator (mulberry32): a failure reproduces from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('exactly one result, whatever a tool throws or returns', () => {
  it.each(NAMES)('%s: one result, never a throw, the slot comes back', async (name) => {
    const scheduler = new Scheduler({ maxParallel: 1, tools: [{ name: 't', run: BEHAVIOURS[name]!, policy: { retry: { retries: 1, minDelayMs: 1 } } }] });
    const results = await scheduler.runBatch([{ tool: 't' }, { tool: 't' }]);
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(['ok', 'error']).toContain(result.status);
      if (result.status === 'error') {
        expect(typeof result.error!.message).toBe('string');
        expect(['tool_error', 'db_error']).toContain(result.error!.code);
      }
    }
    expect([scheduler.running, scheduler.queued, scheduler.pending]).toEqual([0, 0, 0]);
  });

  it('hostile values are described safely', async () => {
    const scheduler = new Scheduler({ tools: Object.entries(BEHAVIOURS).map(([name, run]): Tool => ({ name, run })) });
    const describe = async (name: string): Promise<ToolResult['error']> => (await scheduler.run({ tool: name })).error;
    expect(await describe('throws a hostile value')).toEqual({ code: 'tool_error', message: 'non-Error thrown: (unreadable object)' });
    expect(await describe('throws a fake coded error')).toEqual({ code: 'tool_error', message: 'non-Error thrown: (unreadable object)' });
    expect(await describe('returns an object whose then getter throws')).toEqual({
      code: 'tool_error',
      message: 'Tool "returns an object whose then getter throws" returned a value that could not be read (its `then` threw)',
    });
    expect((await scheduler.run({ tool: 'returns a thenable that calls back, then throws' })).value).toBe(3);
  });

  it('a call whose own fields throw is refused, not thrown', async () => {
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => 1 }] });
    const unreadableTool = throwingGetter('tool') as ToolCall;
    const unreadablePriority = throwingGetter('priority', { tool: 't' }) as ToolCall;
    const results = await scheduler.runBatch([unreadableTool, unreadablePriority, { tool: 't' }]);
    expect(results.map((r) => [r.id, r.status, r.error?.code])).toEqual([
      ['0', 'rejected', 'invalid_argument'],
      ['1', 'rejected', 'invalid_argument'],
      ['2', 'ok', undefined],
    ]);
    await expect(scheduler.runGraph([{ id: 'a', tool: 't' }, throwingGetter('dependsOn', { id: 'b', tool: 't' }) as ToolCall])).rejects.toMatchObject({
      code: 'invalid_graph',
    });
  });

  it('property: random tools, priorities, deadlines, cancellations and the function API; every call settles once', async () => {
    for (const seed of [1, 2, 3]) {
      const random = seeded(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
      const settledIds = new Map<string, number>();
      let live = 0;
      let peak = 0;
      const scheduler = new Scheduler({
        maxParallel: 3,
        random,
        tools: NAMES.map((name): Tool => ({
          name,
          policy: random() < 0.3 ? { retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 } } : undefined,
          run: async (_p, ctx) => {
            live++;
            peak = Math.max(peak, live);
            try {
              if (random() < 0.5) await new Promise((r) => setTimeout(r, Math.floor(random() * 3)));
              if (ctx.signal.aborted && random() < 0.5) throw hostile();
              return await BEHAVIOURS[name]!();
            } finally {
              live--;
            }
          },
        })),
        observers: [{ onSettled: (r) => void settledIds.set(r.id, (settledIds.get(r.id) ?? 0) + 1) }],
      });
      const limited = scheduler.wrap((name: string) => BEHAVIOURS[name]!(), { name: 'wrapped', maxParallel: 2 });
      const outcomes: Promise<unknown>[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) {
        const id = `${seed}-${i}`;
        ids.push(id);
        const controller = new AbortController();
        if (random() < 0.1) setTimeout(() => controller.abort(random() < 0.5 ? hostile() : undefined), Math.floor(random() * 4));
        const kind = random();
        if (kind < 0.6) {
          const call: ToolCall = { id, tool: pick(NAMES), priority: Math.floor(random() * 3), timeoutMs: random() < 0.1 ? 1 : undefined };
          outcomes.push(scheduler.run(call, { signal: controller.signal }));
        } else if (kind < 0.8) {
          outcomes.push(scheduler.add(() => BEHAVIOURS[pick(NAMES)]!(), { id, signal: controller.signal, priority: 1 }).then(() => 'ok', () => 'rejected'));
        } else {
          ids.pop();
          outcomes.push(limited(pick(NAMES)).then(() => 'ok', () => 'rejected'));
        }
      }
      const lost = Symbol('lost');
      const all = await Promise.race([Promise.all(outcomes), new Promise((r) => setTimeout(() => r(lost), 15_000))]);
      expect(all, `seed ${seed}: some call never settled`).not.toBe(lost);
      for (const id of ids) expect(settledIds.get(id), `seed ${seed}: call ${id}`).toBe(1);
      await scheduler.drain();
      expect([scheduler.running, scheduler.queued, scheduler.pending]).toEqual([0, 0, 0]);
      expect(peak, `seed ${seed}: tools running at once`).toBeLessThanOrEqual(3);
    }
  });
});

describe('hostile callers: fields, options, signals and observers are read once and never throw', () => {
  const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('a thenable that calls back twice, later, never settles another call, and the cap holds', async () => {
    let live = 0;
    let peak = 0;
    const scheduler = new Scheduler({
      maxParallel: 1,
      tools: [
        { name: 'twice', run: () => ({ then: (ok: (v: unknown) => void, err: (e: unknown) => void) => void setTimeout(() => { ok('A'); err(new Error('second callback of A')); }, 2) }) },
        { name: 'slow', run: async (id: unknown) => { live++; peak = Math.max(peak, live); await tick(20); live--; return id; } },
      ],
    });
    const results = await scheduler.runBatch([{ id: 'A', tool: 'twice' }, { id: 'B', tool: 'slow', params: 'B' }, { id: 'C', tool: 'slow', params: 'C' }]);
    expect(results.map((r) => [r.id, r.status, r.value])).toEqual([['A', 'ok', 'A'], ['B', 'ok', 'B'], ['C', 'ok', 'C']]);
    expect(peak).toBe(1);
  });

  it('registering a tool again while it runs: running calls finish on the old one, the rest run the new one, nothing jams', async () => {
    const scheduler = new Scheduler();
    scheduler.register({ name: 'search', run: () => tick(10).then(() => 'v1'), policy: { maxParallel: 2 } });
    const old = [scheduler.run({ tool: 'search' }), scheduler.run({ tool: 'search' }), scheduler.run({ tool: 'search' })];
    scheduler.register({ name: 'search', run: async () => 'v2', policy: { maxParallel: 2 } });
    expect((await Promise.all(old)).map((r) => r.value)).toEqual(['v1', 'v1', 'v2']);
    expect(scheduler.toolStats()['search']).toEqual({ running: 0, queued: 0 });
    expect((await scheduler.run({ tool: 'search' })).value).toBe('v2');
  });

  it('getters that throw on a later read: priority, timeoutMs, id and tool are read once; nothing throws, nothing leaks', async () => {
    const later = (key: string, value: unknown, extra: object): ToolCall => {
      let reads = 0;
      return Object.defineProperty({ ...extra }, key, { get: () => (++reads > 1 ? trap() : value), enumerable: true }) as ToolCall;
    };
    const scheduler = new Scheduler({ maxParallel: 1, paused: true, tools: [{ name: 't', run: async (p: unknown) => p }] });
    const calls = [later('priority', 1, { tool: 't' }), later('timeoutMs', 1_000, { tool: 't' }), later('id', 'x', { tool: 't' }), later('tool', 't', {})];
    const pending = calls.map((c) => scheduler.run(c));
    scheduler.resume();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect((await scheduler.run({ tool: 't', params: 'after' })).value).toBe('after');
    expect([scheduler.running, scheduler.queued, scheduler.pending]).toEqual([0, 0, 0]);
  });

  it('a graph reads each call once at planning: a field that throws later changes nothing, one that throws at once is invalid_graph', async () => {
    const scheduler = new Scheduler({ tools: [{ name: 't', run: async (p: unknown) => p }] });
    let reads = 0;
    const b = Object.defineProperty({ id: 'b', tool: 't', dependsOn: ['a'] }, 'params', { get: () => (++reads > 1 ? trap() : 'b'), enumerable: true }) as ToolCall;
    expect((await scheduler.runGraph([{ id: 'a', tool: 't', params: 'a' }, b])).map((r) => r.value)).toEqual(['a', 'b']);
    await expect(scheduler.runGraph([{ id: 'a', tool: 't' }, throwingGetter('params', { id: 'b', tool: 't', dependsOn: ['a'] }) as ToolCall])).rejects.toMatchObject({ code: 'invalid_graph' });
    const proto = await scheduler.runGraph([{ id: '__proto__', tool: 't', params: 1 }, { id: 'x', tool: 't', dependsOn: ['__proto__'], paramsFrom: (deps) => Object.keys(deps) }]);
    expect(proto[1]!.value).toEqual(['__proto__']);
  });

  it('a fake AbortSignal, an options getter that throws and revoked proxies: refused, never thrown', async () => {
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => 1 }] });
    const fake = Object.create(AbortSignal.prototype) as AbortSignal;
    const badOptions = throwingGetter('signal') as { signal?: AbortSignal };
    expect((await scheduler.run({ tool: 't' }, { signal: fake })).error?.code).toBe('invalid_argument');
    expect((await scheduler.run({ tool: 't' }, badOptions)).error?.code).toBe('invalid_argument');
    expect((await scheduler.runBatch([{ tool: 't' }, { tool: 't' }], badOptions)).map((r) => r.error?.code)).toEqual(['invalid_argument', 'invalid_argument']);
    expect((await scheduler.run(revoked() as ToolCall)).error?.code).toBe('invalid_argument');
    expect((await scheduler.runBatch([revoked() as ToolCall]))[0]!.error?.code).toBe('invalid_argument');
    await expect(scheduler.runBatch(revoked() as ToolCall[])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(scheduler.add(() => 1, { signal: fake })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(scheduler.close({ signal: fake })).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(scheduler.closed).toBe(false);
    expect((await scheduler.run({ tool: 't' })).value).toBe(1);
  });

  it('observers: a hook getter that throws counts as no hook; a non-object observer is invalid_argument', async () => {
    const scheduler = new Scheduler({ maxParallel: 1, tools: [{ name: 't', run: async () => 1 }], observers: [throwingGetter('onStart') as never] });
    expect((await scheduler.run({ tool: 't' })).value).toBe(1);
    expect((await scheduler.run({ tool: 't' })).value).toBe(1);
    expect(() => new Scheduler({ observers: [null as never] })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => scheduler.addObserver(null as never)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect((await scheduler.run({ tool: 't' })).value).toBe(1);
  });

  it('deadlines past Node\'s longest timer are refused; a Retry-After past it waits that timer, never 1 ms', async () => {
    expect(() => new Scheduler({ timeoutMs: 30 * 24 * 3600e3 })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    await expect(new Scheduler().add(() => 1, { timeoutMs: 2 ** 31 })).rejects.toMatchObject({ code: 'invalid_argument' });
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => 1 }] });
    for (const timeoutMs of [Number.NaN, -5, 0, 3e9]) expect((await scheduler.run({ tool: 't', timeoutMs })).error?.code).toBe('invalid_argument');
    const delays: number[] = [];
    const slow = new Scheduler({
      tools: [{ name: 'busy', run: () => Promise.reject(Object.assign(new Error('slow down'), { retryable: true, retryAfterMs: 3e9 })), policy: { retry: 1 } }],
      observers: [{ onRetry: (_c, _a, delayMs) => void delays.push(delayMs) }],
    });
    const call = slow.run({ tool: 'busy' });
    await tick(20);
    expect(delays).toEqual([2_147_483_647]);
    expect(slow.pending).toBe(1);
    await slow.destroy();
    expect((await call).status).toBe('cancelled');
  });

  it('add() reads its options once (a reused options object), a full queue refuses only a call that has to wait, wrap keeps this', async () => {
    const scheduler = new Scheduler({ maxParallel: 1, paused: true });
    const order: number[] = [];
    const options: { priority?: number } = {};
    const all = [1, 5, 3].map((p) => {
      options.priority = p;
      return scheduler.add(() => void order.push(p), options);
    });
    scheduler.resume();
    await Promise.all(all);
    expect(order).toEqual([5, 3, 1]);

    const shedding = new Scheduler({ maxParallel: 2, maxQueued: 0, tools: [{ name: 't', run: () => tick(5) }] });
    expect((await shedding.runBatch([{ tool: 't' }, { tool: 't' }, { tool: 't' }])).map((r) => r.error?.code ?? r.status)).toEqual(['ok', 'ok', 'queue_full']);

    const wrapped = { base: 10, add: scheduler.wrap(function (this: { base: number }, n: number) { return this.base + n; }) };
    expect(await wrapped.add(5)).toBe(15);
    await expect(scheduler.onSizeLessThan(0)).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('a batch hears an abort raised by a tool while the batch is being submitted', async () => {
    const controller = new AbortController();
    const seen: boolean[] = [];
    const scheduler = new Scheduler({
      tools: [{ name: 'abort', run: (_p, ctx) => { controller.abort(); return tick(5).then(() => void seen.push(ctx.signal.aborted)); } }, { name: 't', run: async () => 1 }],
    });
    const results = await scheduler.runBatch([{ tool: 'abort' }, { tool: 't' }], { signal: controller.signal });
    expect(results.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    await scheduler.drain();
    expect(seen).toEqual([true]);
  });

  it('a limiter that never answers an acquire (and ignores its abort) does not hold the tool once that call is settled', async () => {
    let acquires = 0;
    let released = 0;
    const limiter = { acquire: () => (acquires++ === 0 ? new Promise<never>(() => {}) : Promise.resolve({ release: () => void released++ })) };
    const scheduler = new Scheduler({ limiters: { stuck: limiter }, tools: [{ name: 't', run: async () => 'ran', policy: { limiters: ['stuck'] } }] });
    const first = await scheduler.run({ tool: 't', queueTimeoutMs: 20 });
    expect(first.error?.code).toBe('queue_timeout');
    expect((await scheduler.run({ tool: 't' })).value).toBe('ran');
    expect([acquires, released, scheduler.pending]).toEqual([2, 1, 0]);
  });

  it('registering a tool again without a policy keeps the one it was registered with (its cap holds under load)', async () => {
    let live = 0;
    let peak = 0;
    const tool: Tool = { name: 'db', run: async () => { peak = Math.max(peak, ++live); await tick(10); live--; } };
    const scheduler = new Scheduler({ maxParallel: 10 });
    scheduler.register(tool, { maxParallel: 1 });
    const calls = Array.from({ length: 5 }, () => scheduler.run({ tool: 'db' }));
    scheduler.register(tool);
    await Promise.all(calls);
    expect(peak).toBe(1);
  });

  it('a call submitted from inside the dispatch loop (a tool\'s synchronous part) is not refused queue_full when a slot is free', async () => {
    const scheduler = new Scheduler({ maxParallel: 4, maxQueued: 0 });
    let inner: Promise<unknown> | undefined;
    await scheduler.add(() => {
      inner = scheduler.add(() => 'inner ran');
      return 0;
    });
    expect(await inner).toBe('inner ran');
  });

  it('a tool whose name getter throws after registration: its calls still settle, under the name it was registered with', async () => {
    let reads = 0;
    const tool = { get name(): string { if (++reads > 3) throw new Error('name gone'); return 'x'; }, run: async () => 1 } as Tool;
    const scheduler = new Scheduler({ tools: [tool] });
    const results = await Promise.all([scheduler.run({ tool: 'x' }), scheduler.run({ tool: 'x' }), scheduler.run({ tool: 'x' })]);
    expect(results.map((r) => [r.tool, r.status])).toEqual([['x', 'ok'], ['x', 'ok'], ['x', 'ok']]);
  });

  it('setToolPolicy with one bad field changes nothing', async () => {
    let live = 0;
    let peak = 0;
    const scheduler = new Scheduler({ tools: [{ name: 't', run: async () => { live++; peak = Math.max(peak, live); await tick(5); live--; } }] });
    expect(() => scheduler.setToolPolicy('t', { maxParallel: 1, timeoutMs: -1 })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    await scheduler.runBatch([{ tool: 't' }, { tool: 't' }, { tool: 't' }]);
    expect(peak).toBe(3);
  });
});
