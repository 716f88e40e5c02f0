/**
 * Queue events, p-queue's way: promises that resolve when the scheduler is idle (`onIdle`/`drain`),
 * when nothing waits (`onEmpty`) or when fewer than n calls wait (`onSizeLessThan`).
 */
interface SizeWaiter {
  readonly below: number;
  readonly resolve: () => void;
}

export class QueueEvents {
  /** True while any promise waits: the dispatcher checks this one field after each step. */
  waiting = false;
  #idle: (() => void)[] = [];
  #sizes: SizeWaiter[] = [];

  /** Resolves once `idle` holds (now or at a later `update`). */
  onIdle(idle: boolean): Promise<void> {
    if (idle) return Promise.resolve();
    this.waiting = true;
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Resolves once fewer than `below` calls wait. */
  onSizeLessThan(below: number, queued: number): Promise<void> {
    if (queued < below) return Promise.resolve();
    this.waiting = true;
    return new Promise((resolve) => this.#sizes.push({ below, resolve }));
  }

  /** Wakes the waiters whose condition holds now. */
  update(queued: number, idle: boolean): void {
    if (idle && this.#idle.length > 0) {
      const wake = this.#idle;
      this.#idle = [];
      for (const resolve of wake) resolve();
    }
    if (this.#sizes.length > 0) {
      const still: SizeWaiter[] = [];
      for (const waiter of this.#sizes) {
        if (queued < waiter.below) waiter.resolve();
        else still.push(waiter);
      }
      this.#sizes = still;
    }
    this.waiting = this.#idle.length > 0 || this.#sizes.length > 0;
  }
}
