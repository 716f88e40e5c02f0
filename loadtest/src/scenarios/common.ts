import type { ContenderResult } from '../model.js';
import type { Progress } from '../progress.js';
import { efficiency, spread } from '../stats.js';

export interface ScenarioOptions {
  readonly quick: boolean;
  readonly repeats: number;
  readonly progress: Progress;
  /**
   * Multiplies our contenders' measured wall times: a self-test of the gate (`--self-test-slowdown 2`
   * must make it fail). 1 in every real run.
   */
  readonly slowdown: number;
  /** Overrides of the scenarios' sizes (undefined: the quick or full default). */
  readonly sizes: {
    /** Calls in the large HTTP fan-out. */
    readonly calls?: number;
    /** Latency of the mock HTTP server, ms. */
    readonly latencyMs?: number;
    /** Calls in the dependency graph. */
    readonly graphCalls?: number;
    /** How long each limiter is driven in the rate scenario, ms. */
    readonly rateMs?: number;
    /** CPU-bound calls in the cpu scenario. */
    readonly cpuCalls?: number;
  };
}

/** Per contender, per repeat: wall ms and errors. */
export type Samples = Record<string, { wall: number[]; errors: number }>;

export function record(samples: Samples, contender: string, wallMs: number, errors: number): void {
  const entry = (samples[contender] ??= { wall: [], errors: 0 });
  entry.wall.push(wallMs);
  entry.errors += errors;
}

/**
 * Per contender, from the repeats: speedup vs sequential, efficiency vs the ideal, and for ours the ratio
 * the gate judges, `vsAnchor`: the anchor's wall time over ours, repeat by repeat (contenders alternate
 * within a repeat, so both saw the same machine). A busy machine slows both alike; a slower scheduler
 * shows. `slowdown` multiplies our wall times (the gate's self-test).
 */
export function summarise(samples: Samples, idealMs: number, ours: ReadonlySet<string>, gate: { readonly anchor?: string; readonly slowdown: number }): ContenderResult[] {
  const scaled = (contender: string, wall: readonly number[]): number[] => (ours.has(contender) ? wall.map((w) => w * gate.slowdown) : [...wall]);
  const sequential = samples['sequential'] === undefined ? undefined : spread(samples['sequential'].wall).median;
  const anchor = gate.anchor === undefined ? undefined : samples[gate.anchor]?.wall;
  return Object.entries(samples).map(([contender, { wall: measured, errors }]) => {
    const wall = scaled(contender, measured);
    return {
      contender,
      ours: ours.has(contender),
      wallMs: spread(wall),
      idealMs,
      speedup: sequential === undefined ? undefined : spread(wall.map((w) => sequential / w)),
      efficiency: spread(wall.map((w) => efficiency(idealMs, w))),
      ...(ours.has(contender) && anchor !== undefined ? { anchor: gate.anchor, vsAnchor: spread(wall.map((w, r) => anchor[r]! / w)) } : {}),
      errors,
    };
  });
}
