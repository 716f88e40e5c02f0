import { ConcurrencyLimiter, type Limiter } from '@mcp-concurrency/core-scheduler';
import { checkPositiveInteger, invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';

export interface OriginLimitsOptions {
  /** Requests running at once per origin. @default 10 */
  readonly maxPerOrigin?: number;
  /** Rate limiters by origin (`https://api.example.com`); a 429 or 503 with `Retry-After` from that origin throttles its limiter. */
  readonly rateLimits?: Readonly<Record<string, Limiter>>;
  /** Distinct origins that get a cap of their own; calls to further origins share one, so a model cannot grow state without bound. @default 1_000 */
  readonly maxOrigins?: number;
}

/** A named limiter a call acquires: the name is what a scheduler registers it under. */
export type NamedLimiter = readonly [name: string, limiter: Limiter];

const SHARED = 'http (other origins)';

/**
 * The per-origin limits as `Limiter`s for whichever scheduler runs the call: a concurrency cap per
 * origin (`http <origin>`) and, where one is configured, the origin's rate limiter (`http rate <origin>`).
 * It holds no queue of its own; the scheduler acquires them together with the call's other limits.
 *
 * @example
 * const limits = new OriginLimits({ maxPerOrigin: 4, rateLimits: { 'https://api.github.com': new TokenBucket({ rate: 10 }) } });
 * for (const [name, limiter] of limits.limitersFor('https://api.github.com')) scheduler.setLimiter(name, limiter);
 */
export class OriginLimits {
  readonly #maxPerOrigin: number;
  readonly #maxOrigins: number;
  readonly #rateLimits = new Map<string, Limiter>();
  readonly #byOrigin = new Map<string, readonly NamedLimiter[]>();

  constructor(options: OriginLimitsOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    this.#maxPerOrigin = options.maxPerOrigin === undefined ? 10 : checkPositiveInteger('maxPerOrigin', options.maxPerOrigin);
    this.#maxOrigins = options.maxOrigins === undefined ? 1_000 : checkPositiveInteger('maxOrigins', options.maxOrigins);
    for (const [origin, limiter] of Object.entries(options.rateLimits ?? {})) {
      let normalized: string;
      try {
        normalized = new URL(origin).origin;
      } catch {
        throw invalidArgument(`rateLimits["${origin}"]`, 'keyed by an origin such as https://api.example.com', origin);
      }
      if (typeof limiter?.acquire !== 'function') throw invalidArgument(`rateLimits["${origin}"]`, 'a Limiter', limiter);
      this.#rateLimits.set(normalized, limiter);
    }
  }

  /** The rate limiter configured for `origin`, if any (what `limitersFor` names `http rate <origin>`). */
  rateLimitFor(origin: string): Limiter | undefined {
    return this.#rateLimits.get(origin);
  }

  /** Requests at once per origin. */
  get maxPerOrigin(): number {
    return this.#maxPerOrigin;
  }

  /** The limiters a call to `origin` (`https://host:port`) acquires, by name; the same objects on every call. */
  limitersFor(origin: string): readonly NamedLimiter[] {
    let limiters = this.#byOrigin.get(origin);
    if (limiters !== undefined) return limiters;
    if (this.#byOrigin.size >= this.#maxOrigins) {
      limiters = this.#byOrigin.get(SHARED);
      if (limiters === undefined) this.#byOrigin.set(SHARED, (limiters = [[SHARED, new ConcurrencyLimiter(this.#maxPerOrigin)]]));
      return limiters;
    }
    const cap: NamedLimiter = [`http ${origin}`, new ConcurrencyLimiter(this.#maxPerOrigin)];
    const rate = this.#rateLimits.get(origin);
    limiters = rate === undefined ? [cap] : [cap, [`http rate ${origin}`, rate]];
    this.#byOrigin.set(origin, limiters);
    return limiters;
  }
}
