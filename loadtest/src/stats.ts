/** The harness's arithmetic: plain functions, unit-tested. */
export { maxInWindow } from '@mcp-concurrency/limiter-token-bucket';

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(samples: readonly number[]): Spread {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/**
 * How many windows break the bound `burst + rate * t`: for every event i, the window that starts at
 * it and holds events i..j counts once if j - i + 1 > burst + rate * (t_j - t_i) + slack. The worst
 * excess is returned too. 0 windows over budget means the limiter held over every interval.
 */
export function windowsOverBudget(times: readonly number[], rate: number, burst: number, slack = 0): { windows: number; worstExcess: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let windows = 0;
  let worstExcess = 0;
  for (let i = 0; i < sorted.length; i++) {
    let over = false;
    for (let j = i; j < sorted.length; j++) {
      const excess = j - i + 1 - (burst + (rate * (sorted[j]! - sorted[i]!)) / 1000) - slack;
      if (excess > 0) {
        over = true;
        worstExcess = Math.max(worstExcess, excess);
      }
    }
    if (over) windows++;
  }
  return { windows, worstExcess };
}

/** Events per second after the burst, between the first and the last event. */
export function achievedRate(times: readonly number[], burst: number): number {
  if (times.length < 2) return 0;
  const sorted = [...times].sort((a, b) => a - b);
  const seconds = (sorted[sorted.length - 1]! - sorted[0]!) / 1000;
  return seconds <= 0 ? 0 : Math.max(0, sorted.length - burst) / seconds;
}

/** The ideal wall time of n equal tasks of `taskMs` at `concurrency`. */
export function idealMs(n: number, taskMs: number, concurrency: number): number {
  return Math.ceil(n / concurrency) * taskMs;
}

/** ideal / actual: 1 is perfect, 0.5 is twice the ideal. */
export function efficiency(ideal: number, actual: number): number {
  return actual > 0 ? ideal / actual : 0;
}

/** The longest path through a DAG of task durations (the critical path): no schedule beats it. */
export function criticalPathMs(durations: readonly number[], dependsOn: readonly (readonly number[])[]): number {
  const memo = new Array<number | undefined>(durations.length);
  const finish = (i: number): number => {
    const known = memo[i];
    if (known !== undefined) return known;
    const start = Math.max(0, ...dependsOn[i]!.map(finish));
    return (memo[i] = start + durations[i]!);
  };
  return Math.max(0, ...durations.map((_, i) => finish(i)));
}
