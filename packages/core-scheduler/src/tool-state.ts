/** A registered tool's state: its resolved policy, its slot gate and its lanes (one per key). */
import { Lane, type Gate } from './lane.js';
import { resolveRetry, type ResolvedRetry } from './retry.js';
import type { Tool, ToolPolicy } from './types.js';
import { checkDeadline, checkNonEmptyString, checkPositive, checkPositiveInteger, invalidArgument } from './validate.js';

/** A registered tool with its policy resolved, its slot gate and its lanes. */
export class ToolState implements Gate {
  limit = Infinity;
  running = 0;
  limiters: readonly string[] = [];
  cost = 1;
  timeoutMs: number | undefined;
  queueTimeoutMs: number | undefined;
  retry: ResolvedRetry | undefined;
  /** The lane of calls without a key. */
  readonly lane: Lane;
  /** Lanes per key, with per-key limits. */
  readonly keyed = new Map<string, Lane>();

  /** The tool's name, read once when it was registered (a `name` getter is never read again). */
  readonly name: string;

  constructor(
    /** The tool; `register()` of a tool of the same name swaps it in (calls not started yet run the new one). */
    public tool: Tool,
    policy: ToolPolicy | undefined,
    name: string = tool.name,
  ) {
    this.name = name;
    this.lane = new Lane(this, undefined, undefined);
    this.apply(policy ?? {});
  }

  /** Checks the whole policy first, then applies it: a bad policy changes nothing. @throws `invalid_argument` */
  apply(policy: ToolPolicy): void {
    const at = `tools.${this.name}`;
    if (typeof policy !== 'object' || policy === null) throw invalidArgument(at, 'a policy object', policy);
    const limit = policy.maxParallel === undefined ? Infinity : checkPositiveInteger(`${at}.maxParallel`, policy.maxParallel, true);
    if (policy.limiters !== undefined) {
      if (!Array.isArray(policy.limiters)) throw invalidArgument(`${at}.limiters`, 'an array of limiter names', policy.limiters);
      policy.limiters.forEach((name, i) => checkNonEmptyString(`${at}.limiters[${i}]`, name));
    }
    const cost = policy.cost === undefined ? 1 : checkPositive(`${at}.cost`, policy.cost);
    const timeoutMs = policy.timeoutMs === undefined ? undefined : checkDeadline(`${at}.timeoutMs`, policy.timeoutMs);
    const queueTimeoutMs = policy.queueTimeoutMs === undefined ? undefined : checkDeadline(`${at}.queueTimeoutMs`, policy.queueTimeoutMs);
    const retry = resolveRetry(`${at}.retry`, policy.retry);
    this.limit = limit;
    // A fixed order of acquisition: two calls never wait for each other's limiters crosswise.
    this.limiters = [...new Set(policy.limiters ?? [])].sort();
    this.cost = cost;
    this.timeoutMs = timeoutMs;
    this.queueTimeoutMs = queueTimeoutMs;
    this.retry = retry;
  }
}
