/**
 * The scheduler's clock: time in integer ticks (tenths of a millisecond) since the scheduler was made,
 * read from the injected clock at most once per synchronous step.
 */
import type { Clock } from './types.js';

/** Ticks per millisecond: the resolution of `queuedMs` and `runMs`. */
export const TICKS_PER_MS = 10;

export const defaultClock: Clock = { now: () => performance.now() };

/**
 * Small integers, so no task or result boxes a double. `now()` reads the clock once per synchronous
 * step (a submission, a finish and the start it makes room for); every entry point calls `stale()`
 * first, and so does anything after a tool's synchronous part, which may have taken a while.
 */
export class TickClock {
  /** The reading of this step; -1 when not read yet. */
  #ticks = -1;
  /**
   * The submission time shared by calls submitted in one synchronous run (a batch, a loop): read once,
   * forgotten at the next microtask or when a tool's synchronous part runs. -1 when not read yet.
   */
  #submitTicks = -1;
  readonly #forgetSubmit = (): void => {
    this.#submitTicks = -1;
  };
  readonly #clock: Clock;
  readonly #epoch: number;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#epoch = clock.now();
  }

  /** Now, in ticks; one clock reading per synchronous step. */
  now(): number {
    if (this.#ticks < 0) this.#ticks = this.#read();
    return this.#ticks;
  }

  /** A new step begins: the next `now()` reads the clock. */
  stale(): void {
    this.#ticks = -1;
  }

  /** A tool's synchronous part ran: both readings may be old. */
  staleAll(): void {
    this.#ticks = this.#submitTicks = -1;
  }

  /** The submission time of a call submitted now (shared with the calls of the same synchronous run). */
  submitTime(): number {
    let ticks = this.#submitTicks;
    if (ticks < 0) {
      ticks = this.#submitTicks = this.#read();
      queueMicrotask(this.#forgetSubmit);
    }
    this.#ticks = ticks;
    return ticks;
  }

  #read(): number {
    return Math.floor((this.#clock.now() - this.#epoch) * TICKS_PER_MS);
  }
}
