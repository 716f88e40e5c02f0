import type { Report } from './model.js';

/** The ratios a baseline keeps per scenario and contender: machine-independent, unlike wall times. */
export interface Baseline {
  readonly createdAt: string;
  readonly figures: Record<string, { vsAnchor?: number; windowsOverBudget?: number }>;
}

export interface Regression {
  readonly key: string;
  readonly figure: string;
  readonly baseline: number;
  readonly current: number;
  readonly explanation: string;
}

/** Only our contenders are gated: the anchors are there to compare against, not to hold us to. */
export function toBaseline(report: Report): Baseline {
  const figures: Baseline['figures'] = {};
  for (const scenario of report.scenarios) {
    for (const c of scenario.contenders) {
      if (!c.ours) continue;
      figures[`${scenario.scenario}/${c.contender}`] = {
        vsAnchor: c.vsAnchor?.median,
        windowsOverBudget: c.windowsOverBudget?.median,
      };
    }
  }
  return { createdAt: report.startedAt, figures };
}

/**
 * Compares ratios measured side by side, never absolute times: `vsAnchor` (the anchor's wall over ours,
 * same run) may not drop by more than `maxRegression` (0.25 = 25%). Speedup vs one by one and efficiency
 * vs the ideal are reported but not gated: a busy machine moves them as much as a regression would.
 * Compliance never regresses silently: windows over budget may not rise above the baseline's.
 */
export function compare(baseline: Baseline, current: Baseline, maxRegression: number): Regression[] {
  const regressions: Regression[] = [];
  for (const [key, now] of Object.entries(current.figures)) {
    const then = baseline.figures[key];
    if (then === undefined) continue;
    for (const figure of ['vsAnchor'] as const) {
      const b = then[figure];
      const c = now[figure];
      if (b === undefined || c === undefined || b <= 0) continue;
      const drop = (b - c) / b;
      if (drop > maxRegression) {
        regressions.push({
          key,
          figure,
          baseline: b,
          current: c,
          explanation: `${key}: speed against its anchor fell from ${b.toFixed(2)}x to ${c.toFixed(2)}x (${(drop * 100).toFixed(1)}% worse; at most ${(maxRegression * 100).toFixed(0)}% allowed)`,
        });
      }
    }
    // 429s are reported, not gated: the server's bucket allows one token of jitter, and a busy machine can
    // bunch arrivals by more. Windows over budget are judged with the jitter the run measured.
    for (const figure of ['windowsOverBudget'] as const) {
      const b = then[figure] ?? 0;
      const c = now[figure];
      if (c !== undefined && c > b) {
        regressions.push({
          key,
          figure,
          baseline: b,
          current: c,
          explanation: `${key}: windows over the rate budget rose from ${b} to ${c}`,
        });
      }
    }
  }
  return regressions;
}

/** `10%`, `0.1` -> 0.1 */
export function parseRegression(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(text);
  if (!match) throw new Error(`--max-regression expects a percentage such as 10% (or 0.1), got "${text}"`);
  const value = Number(match[1]);
  return match[2] === '%' || value > 1 ? value / 100 : value;
}
