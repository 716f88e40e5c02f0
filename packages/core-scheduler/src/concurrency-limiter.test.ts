import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter } from './concurrency-limiter.js';

describe('ConcurrencyLimiter', () => {
  it('admits up to the limit, FIFO, and a large request is not starved', async () => {
    const limiter = new ConcurrencyLimiter(3);
    const a = await limiter.acquire({ cost: 2 });
    const order: string[] = [];
    const big = limiter.acquire({ cost: 3 }).then((p) => (order.push('big'), p));
    const small = limiter.acquire({ cost: 1 }).then((p) => (order.push('small'), p));
    await Promise.resolve();
    expect(order).toEqual([]); // small fits now but waits behind big: FIFO
    expect(limiter.tryAcquire()).toBeUndefined();
    a.release();
    (await big).release();
    (await small).release();
    expect(order).toEqual(['big', 'small']);
    expect(limiter.inUse).toBe(0);
  });

  it('an aborted waiter leaves at once, takes nothing, and unblocks those behind it', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const held = await limiter.acquire();
    const controller = new AbortController();
    const blocked = limiter.acquire({ cost: 2, signal: controller.signal });
    const behind = limiter.acquire({ cost: 1 });
    controller.abort(new Error('stop'));
    await expect(blocked).rejects.toThrow('stop');
    const p = await behind;
    expect(limiter.inUse).toBe(2);
    expect(limiter.waiting).toBe(0);
    p.release();
    held.release();
    held.release(); // idempotent
    expect(limiter.inUse).toBe(0);
  });

  it('rejects a cost it could never admit, and bad limits', async () => {
    const limiter = new ConcurrencyLimiter(2);
    // acquire() rejects, never throws (as every Limiter in the project); tryAcquire() throws.
    const tooBig = limiter.acquire({ cost: 3 });
    await expect(tooBig).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('Expected `cost` to be at most the limit (2)') });
    await expect(limiter.acquire({ signal: 'soon' as unknown as AbortSignal })).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(() => limiter.tryAcquire({ cost: -1 })).toThrow('Expected `cost` to be a finite number > 0, got `-1` (number)');
    expect(() => new ConcurrencyLimiter(0)).toThrow('Expected `limit` to be an integer >= 1 or Infinity, got `0` (number)');
    await expect(limiter.acquire({ signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
  });

  it('setLimit admits waiters that now fit', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await limiter.acquire();
    const waiting = limiter.acquire();
    limiter.setLimit(2);
    await expect(waiting).resolves.toBeDefined();
    expect(limiter.inUse).toBe(2);
  });
});
