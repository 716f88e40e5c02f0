import type { Spread } from './stats.js';

/** One contender's figures in one scenario, each a median over the repeats with its spread. */
export interface ContenderResult {
  readonly contender: string;
  /** Ours (gated against the baseline) or an anchor (reported for comparison). */
  readonly ours: boolean;
  readonly wallMs?: Spread;
  readonly idealMs?: number;
  /** sequential wall / this wall */
  readonly speedup?: Spread;
  /** ideal / this wall */
  readonly efficiency?: Spread;
  /** The contender ours is gated against in this scenario (p-limit doing the same work, say). */
  readonly anchor?: string;
  /** The anchor's wall / ours, repeat by repeat: what the CI gate judges (1 = as fast as the anchor). */
  readonly vsAnchor?: Spread;
  /** Windows of the server's record over burst + rate * t (0 is compliant). */
  readonly windowsOverBudget?: Spread;
  readonly maxIn1s?: Spread;
  readonly boundIn1s?: number;
  readonly http429?: Spread;
  /** Tokens of slack the window judge allowed: 1 plus the measured grant-to-arrival spread at the rate. */
  readonly windowSlack?: Spread;
  readonly achievedRate?: Spread;
  /** Event-loop delay p99 while the contender ran, ms (monitorEventLoopDelay). */
  readonly loopDelayP99Ms?: Spread;
  readonly errors: number;
  readonly note?: string;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly title: string;
  readonly contenders: ContenderResult[];
  /** Raw data for charts from the last repeat. */
  readonly charts?: {
    readonly timelines?: Record<string, { start: number; end: number }[]>;
    readonly rate?: { limitPerSecond: number; burst: number; series: Record<string, number[]> };
  };
  readonly skipped?: string;
}

export interface Report {
  readonly startedAt: string;
  readonly node: string;
  readonly repeats: number;
  readonly quick: boolean;
  readonly services: Record<string, string>;
  readonly scenarios: ScenarioResult[];
}
