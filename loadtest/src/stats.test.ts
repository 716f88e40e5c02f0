import { describe, expect, it } from 'vitest';
import { compare, parseRegression, toBaseline, type Baseline } from './baseline.js';
import type { Report } from './model.js';
import { achievedRate, criticalPathMs, efficiency, idealMs, maxInWindow, spread, windowsOverBudget } from './stats.js';

describe('stats', () => {
  it('median and spread', () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3 });
    expect(spread([4, 1, 2, 3])).toEqual({ median: 2.5, min: 1, max: 4 });
  });

  it('counts the most events in any sliding window (half-open)', () => {
    expect(maxInWindow([0, 999, 1000], 1000)).toBe(2); // 1000 is outside [0, 1000)
    expect(maxInWindow([0, 100, 999, 1000, 1001], 1000)).toBe(4); // [100, 1100)
    expect(maxInWindow([5, 5, 5], 1)).toBe(3);
    expect(maxInWindow([], 1000)).toBe(0);
  });

  it('finds windows over burst + rate * t', () => {
    // 10/s, burst 2: 3 at once is one over; spaced 100 ms apart is fine.
    expect(windowsOverBudget([0, 0, 0], 10, 2)).toEqual({ windows: 1, worstExcess: 1 });
    expect(windowsOverBudget([0, 100, 200, 300, 400], 10, 1)).toEqual({ windows: 0, worstExcess: 0 });
    // p-queue's fixed window: 50 at the end of one second and 50 at the start of the next.
    const boundary = [...Array.from({ length: 50 }, () => 999), ...Array.from({ length: 50 }, () => 1000)];
    expect(windowsOverBudget(boundary, 50, 10).worstExcess).toBeCloseTo(90 - 0.05, 5);
    expect(windowsOverBudget([0, 0, 0], 10, 2, 1).windows).toBe(0); // slack
  });

  it('achieved rate, ideal, efficiency, critical path', () => {
    expect(achievedRate([0, 0, 1000, 2000], 2)).toBe(1);
    expect(idealMs(100, 200, 10)).toBe(2000);
    expect(idealMs(5, 200, 10)).toBe(200);
    expect(efficiency(200, 400)).toBe(0.5);
    // a(10) -> b(20) -> d(5); c(40) alone: the longest path is 40.
    expect(criticalPathMs([10, 20, 40, 5], [[], [0], [], [1]])).toBe(40);
    expect(criticalPathMs([10, 20, 5], [[], [0], [1]])).toBe(35);
  });
});

describe('baseline gate', () => {
  const report = (vsAnchor: number, windows: number): Report => ({
    startedAt: 'now', node: 'v20', repeats: 1, quick: true, services: {},
    scenarios: [
      { scenario: 'http', title: 'http', contenders: [
        { contender: 'ours', ours: true, anchor: 'p-limit', vsAnchor: { median: vsAnchor, min: vsAnchor, max: vsAnchor }, speedup: { median: 9, min: 9, max: 9 }, errors: 0 },
        { contender: 'p-limit', ours: false, speedup: { median: 1, min: 1, max: 1 }, errors: 0 },
      ] },
      { scenario: 'rate', title: 'rate', contenders: [{ contender: 'ours', ours: true, windowsOverBudget: { median: windows, min: windows, max: windows }, errors: 0 }] },
    ],
  });

  it('keeps only our ratios', () => {
    expect(Object.keys(toBaseline(report(5, 0)).figures)).toEqual(['http/ours', 'rate/ours']);
  });

  it('flags a drop against the anchor over the allowance, and any rise in windows over budget', () => {
    const base: Baseline = toBaseline(report(1, 0));
    expect(base.figures['http/ours']).toEqual({ vsAnchor: 1, windowsOverBudget: undefined });
    expect(compare(base, toBaseline(report(0.8, 0)), 0.25)).toEqual([]);
    const worse = compare(base, toBaseline(report(0.5, 1)), 0.25);
    expect(worse.map((r) => r.explanation)).toEqual([
      'http/ours: speed against its anchor fell from 1.00x to 0.50x (50.0% worse; at most 25% allowed)',
      'rate/ours: windows over the rate budget rose from 0 to 1',
    ]);
  });

  it('parses --max-regression', () => {
    expect(parseRegression('10%')).toBe(0.1);
    expect(parseRegression('0.25')).toBe(0.25);
    expect(parseRegression('15')).toBe(0.15);
    expect(() => parseRegression('lots')).toThrow('--max-regression expects');
  });
});
