import type { ContenderResult } from '../model.js';
import type { Progress } from '../progress.js';
import { efficiency, spread } from '../stats.js';

export interface ScenarioOptions {
  readonly quick: boolean;
  readonly repeats: number;
  readonly progress: Progress;
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
  };
}

/** Per contender, per repeat: wall ms and errors. */
export type Samples = Record<string, { wall: number[]; errors: number }>;

export function record(samples: Samples, contender: string, wallMs: number, errors: number): void {
  const entry = (samples[contender] ??= { wall: [], errors: 0 });
  entry.wall.push(wallMs);
  entry.errors += errors;
}

/** Speedup vs sequential and efficiency vs the ideal, per contender, from the repeats. */
export function summarise(samples: Samples, idealMs: number, ours: ReadonlySet<string>): ContenderResult[] {
  const sequential = samples['sequential'] === undefined ? undefined : spread(samples['sequential'].wall).median;
  return Object.entries(samples).map(([contender, { wall, errors }]) => ({
    contender,
    ours: ours.has(contender),
    wallMs: spread(wall),
    idealMs,
    speedup: sequential === undefined ? undefined : spread(wall.map((w) => sequential / w)),
    efficiency: spread(wall.map((w) => efficiency(idealMs, w))),
    errors,
  }));
}
