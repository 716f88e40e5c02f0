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
      const scheduler = new Scheduler({
        maxParallel: 3,
        random,
        tools: NAMES.map((name): Tool => ({
          name,
          policy: random() < 0.3 ? { retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 } } : undefined,
          run: async (_p, ctx) => {
            if (random() < 0.5) await new Promise((r) => setTimeout(r, Math.floor(random() * 3)));
            if (ctx.signal.aborted && random() < 0.5) throw hostile();
            return BEHAVIOURS[name]!();
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
    }
  });
});
