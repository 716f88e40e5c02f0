/**
 * Judging a limiter by its grants (or a server by its arrivals): the checks the tests and the load-test
 * harness use, exported for anyone who wants to verify a rate limit the same way.
 */

/** The most grants in any window of `windowMs` (grant times in ms, any order). */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/**
 * The worst excess over the bound `burst + rate * t` across every interval [t_i, t_j] of grants:
 * 0 or less means the bound held everywhere.
 */
export function worstExcess(times: readonly number[], rate: number, burst: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = -Infinity;
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i; j < sorted.length; j++) {
      const allowed = burst + (rate * (sorted[j]! - sorted[i]!)) / 1000;
      worst = Math.max(worst, j - i + 1 - allowed);
    }
  }
  return worst;
}
