import { describe, expect, it } from 'vitest';
import { McpConcurrencyError } from './errors.js';
import { planGraph } from './graph.js';
import { Scheduler } from './scheduler.js';
import type { SchedulerObserver, Tool, ToolCall, ToolResult } from './types.js';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function timedTool() {
  const events: string[] = [];
  const tool: Tool<{ ms?: number; fail?: boolean; value?: unknown }> = {
    name: 'step',
    async run(params, ctx) {
      events.push(`start ${ctx.callId}`);
      await delay(params?.ms ?? 1);
      events.push(`end ${ctx.callId}`);
      if (params?.fail) throw new Error(`${ctx.callId} failed`);
      return params?.value ?? ctx.callId;
    },
  };
  return { tool, events };
}

describe('planGraph rejects bad graphs before anything runs', () => {
  const cases: [string, ToolCall[], string][] = [
    ['a duplicate id', [{ id: 'a', tool: 't' }, { id: 'a', tool: 't' }], 'Duplicate call id "a" (calls[0] and calls[1])'],
    ['an unknown dependency', [{ id: 'a', tool: 't', dependsOn: ['zz'] }], 'Call "a" depends on unknown id "zz"'],
    ['a self-cycle', [{ id: 'a', tool: 't', dependsOn: ['a'] }], 'Dependency cycle: a -> a'],
    ['a cycle', [
      { id: 'a', tool: 't', dependsOn: ['c'] },
      { id: 'b', tool: 't', dependsOn: ['a'] },
      { id: 'c', tool: 't', dependsOn: ['b'] },
      { id: 'd', tool: 't' },
    ], 'Dependency cycle: a -> c -> b -> a'],
    ['a malformed call', [{ id: 'a', tool: 't' }, 5 as unknown as ToolCall], 'calls[1] is not a tool call'],
    ['a dependency id of the wrong type', [{ id: 'a', tool: 't' }, { id: 'b', tool: 't', dependsOn: [1 as unknown as string] }],
      'calls[1].dependsOn[0] must be a string call id, got `1` (number)'],
    ['a call id of the wrong type', [{ id: 7 as unknown as string, tool: 't' }], 'calls[0].id must be a string, got `7` (number)'],
    ['an unknown dependency with a huge id', [{ id: 'a', tool: 't', dependsOn: ['x'.repeat(10_000)] }],
      `Call "a" depends on unknown id "${'x'.repeat(37)}..."`],
  ];
  it('names a cycle through a 20,000-call chain in a short message: its length, first and last ids', () => {
    const n = 20_000;
    const calls: ToolCall[] = Array.from({ length: n }, (_, i) => ({ id: `c${i}`, tool: 't', dependsOn: [`c${(i + 1) % n}`] }));
    const error = (() => {
      try {
        planGraph(calls);
      } catch (e) {
        return e as McpConcurrencyError;
      }
      throw new Error('no error');
    })();
    expect(error.code).toBe('invalid_graph');
    expect(error.message).toBe('Dependency cycle of 20000 calls: c0 -> c1 -> c2 -> c3 -> ... (19993 more) ... -> c19997 -> c19998 -> c19999 -> c0');
    expect(error.message.length).toBeLessThan(200);
  });

  it.each(cases)('%s', async (_name, calls, message) => {
    expect(() => planGraph(calls)).toThrow(message);
    let ran = 0;
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => void ran++ }] });
    const error = await scheduler.runGraph(calls).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpConcurrencyError);
    expect((error as McpConcurrencyError).code).toBe('invalid_graph');
    expect(ran).toBe(0);
  });
});

describe('runGraph', () => {
  it('starts each call as soon as its own dependencies settle, not wave by wave', async () => {
    // "slow" ends when afterFast has ended, or after 5 s. Wave by wave, afterFast could not start before
    // slow ended, so slow would end first (on its 5 s fallback): no clock race decides the result.
    const events: string[] = [];
    let afterFastEnded!: () => void;
    const gate = new Promise<void>((resolve) => {
      afterFastEnded = resolve;
      setTimeout(resolve, 5_000).unref();
    });
    const tool: Tool = {
      name: 'step',
      async run(_params, ctx) {
        events.push(`start ${ctx.callId}`);
        await (ctx.callId === 'slow' ? gate : Promise.resolve());
        events.push(`end ${ctx.callId}`);
        if (ctx.callId === 'afterFast') afterFastEnded();
        return ctx.callId;
      },
    };
    const scheduler = new Scheduler({ maxParallel: 10, tools: [tool] });
    const results = await scheduler.runGraph([
      { id: 'slow', tool: 'step' },
      { id: 'fast', tool: 'step' },
      { id: 'afterFast', tool: 'step', dependsOn: ['fast'] },
      { id: 'afterBoth', tool: 'step', dependsOn: ['slow', 'afterFast'] },
    ]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    // afterFast ran while slow was still running.
    expect(events.indexOf('end afterFast')).toBeLessThan(events.indexOf('end slow'));
    expect(events.indexOf('start afterBoth')).toBeGreaterThan(events.indexOf('end slow'));
  });

  it('skips dependents of a failed call, naming the cause, and cascades; opt-in calls run anyway', async () => {
    const { tool } = timedTool();
    const skipped: ToolResult[] = [];
    const observer: SchedulerObserver = { onSettled: (r) => r.status === 'skipped' && skipped.push(r) };
    const scheduler = new Scheduler({ tools: [tool], observers: [observer] });
    const results = await scheduler.runGraph([
      { id: 'bad', tool: 'step', params: { fail: true } },
      { id: 'child', tool: 'step', dependsOn: ['bad'] },
      { id: 'grandchild', tool: 'step', dependsOn: ['child'] },
      { id: 'cleanup', tool: 'step', dependsOn: ['bad'], runOnFailedDependency: true },
      { id: 'unrelated', tool: 'step' },
    ]);
    expect(results.map((r) => r.status)).toEqual(['error', 'skipped', 'skipped', 'ok', 'ok']);
    expect(results[1]!.error).toEqual({ code: 'dependency_failed', message: 'Skipped: dependency "bad" settled as error: tool_error' });
    expect(results[2]!.error!.message).toContain('"child" settled as skipped');
    expect(skipped.map((r) => r.id)).toEqual(['child', 'grandchild']);
  });

  it('feeds dependency values into a dependent', async () => {
    const scheduler = new Scheduler({
      tools: [
        { name: 'user', run: (p: unknown) => ({ id: (p as { id: number }).id, name: 'Ada' }) },
        { name: 'posts', run: (p: unknown) => [`post of ${(p as { userId: number }).userId}`] },
      ],
    });
    const results = await scheduler.runGraph([
      { id: 'u', tool: 'user', params: { id: 7 } },
      { id: 'p', tool: 'posts', dependsOn: ['u'], paramsFrom: (deps) => ({ userId: (deps['u']!.value as { id: number }).id }) },
      { id: 'bad', tool: 'posts', dependsOn: ['u'], paramsFrom: () => { throw new Error('no such field'); } },
    ]);
    expect(results[1]!.value).toEqual(['post of 7']);
    expect(results[2]).toMatchObject({ status: 'error', error: { code: 'invalid_params', message: 'paramsFrom failed: no such field' } });
  });

  it('runBatch with dependsOn is a graph; an empty graph settles at once', async () => {
    const { tool } = timedTool();
    const scheduler = new Scheduler({ tools: [tool] });
    const results = await scheduler.runBatch([{ id: 'b', tool: 'step', dependsOn: ['a'] }, { id: 'a', tool: 'step' }]);
    expect(results.map((r) => r.id)).toEqual(['b', 'a']);
    expect(await scheduler.runGraph([])).toEqual([]);
  });

  it('property: random graphs with random failures, every call settles exactly once, in order, consistently', async () => {
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 30; round++) {
      const n = 1 + Math.floor(random() * 60);
      const settledIds = new Map<string, number>();
      const fail = new Set<string>();
      const calls: ToolCall[] = [];
      for (let i = 0; i < n; i++) {
        const deps = new Set<string>();
        for (let d = 0; d < Math.floor(random() * 3) && i > 0; d++) deps.add(`n${Math.floor(random() * i)}`);
        const kind = random();
        if (kind < 0.15) fail.add(`n${i}`);
        calls.push({
          id: `n${i}`,
          tool: kind < 0.05 ? 'missing' : 'work',
          dependsOn: [...deps],
          runOnFailedDependency: random() < 0.1,
          timeoutMs: kind > 0.95 ? 1 : undefined,
        });
      }
      // Shuffle: input order must not need to be topological.
      calls.sort(() => random() - 0.5);
      const scheduler = new Scheduler({
        maxParallel: 1 + Math.floor(random() * 6),
        observers: [{ onSettled: (r) => settledIds.set(r.id, (settledIds.get(r.id) ?? 0) + 1) }],
        tools: [{
          name: 'work',
          run: async (_p, ctx) => {
            await delay(random() < 0.5 ? 0 : 3);
            if (fail.has(ctx.callId)) throw new Error('random failure');
            return ctx.callId;
          },
        }],
      });
      const results = await scheduler.runGraph(calls);
      expect(results.map((r) => r.id)).toEqual(calls.map((c) => c.id));
      for (const id of calls.map((c) => c.id!)) expect(settledIds.get(id)).toBe(1);
      const byId = new Map(results.map((r) => [r.id, r]));
      for (const call of calls) {
        const result = byId.get(call.id!)!;
        const depFailed = (call.dependsOn ?? []).some((d) => byId.get(d)!.status !== 'ok');
        if (depFailed && !call.runOnFailedDependency) expect(result.status).toBe('skipped');
        else expect(result.status).not.toBe('skipped');
      }
      await scheduler.drain();
      expect(scheduler.pending).toBe(0);
    }
  });
});

describe('runGraph with a signal', () => {
  it('one abort cancels running and queued calls, and skips what was not submitted yet', async () => {
    const { tool } = timedTool();
    const scheduler = new Scheduler({ maxParallel: 1, tools: [tool] });
    const controller = new AbortController();
    const pending = scheduler.runGraph(
      [
        { id: 'a', tool: 'step', params: { ms: 200 } },
        { id: 'b', tool: 'step', params: { ms: 1 } },
        { id: 'c', tool: 'step', dependsOn: ['a'] },
      ],
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error('stop')), 20);
    const results = await pending;
    expect(results.map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'skipped']);
    await scheduler.drain();
    expect([scheduler.running, scheduler.queued, scheduler.pending]).toEqual([0, 0, 0]);
  });
});

describe('a call that settles at once', () => {
  it('does not make its dependent run twice (paramsFrom refusing a root, a dependent later in the list)', async () => {
    let runs = 0;
    const scheduler = new Scheduler({ tools: [{ name: 't', run: () => ++runs }] });
    const results = await scheduler.runGraph([
      { id: 'bad', tool: 't', paramsFrom: () => { throw new McpConcurrencyError('invalid_params', 'Argument "n" must be an integer, got string'); } },
      { id: 'after', tool: 't', dependsOn: ['bad'] },
      { id: 'good', tool: 't' },
    ]);
    expect(results.map((r) => [r.id, r.status, r.error?.message])).toEqual([
      ['bad', 'error', 'Argument "n" must be an integer, got string'],
      ['after', 'skipped', 'Skipped: dependency "bad" settled as error: invalid_params'],
      ['good', 'ok', undefined],
    ]);
    expect(runs).toBe(1);
  });
});
