/**
 * Handler slots: the pair of callbacks a running async call passes to its promise's `then`, reused
 * from a free list so that starting a call allocates no closures.
 */
import type { Task } from './task.js';

type Finish = (task: Task, ok: boolean, outcome: unknown) => void;

/**
 * One pair of handlers. There are never more reusable slots than calls running at once. A thenable that
 * calls back twice, or both ways, or calls back and then throws, is heard once: a native promise calls
 * back at most once, so its slot goes back to the free list; any other thenable gets a slot of its own
 * that is never reused, so a late second callback finds it empty instead of finding another call.
 */
class Slot {
  task: Task | undefined = undefined;
  nextFree: Slot | undefined = undefined;
  reusable = true;
  readonly ok: (value: unknown) => void;
  readonly err: (error: unknown) => void;

  constructor(owner: Slots, finish: Finish) {
    const settle = (ok: boolean, outcome: unknown): void => {
      const task = this.task;
      if (task === undefined) return;
      this.task = undefined;
      if (this.reusable) owner.free(this);
      else owner.retire(this);
      finish(task, ok, outcome);
    };
    this.ok = (value) => settle(true, value);
    this.err = (error) => settle(false, error);
  }
}

export type { Slot };

/** Every slot made, and the free ones. */
export class Slots {
  #free: Slot | undefined = undefined;
  /** Every slot in use or free (the reusable ones: at most the peak of async calls running at once): where `close()` finds running calls. */
  readonly #all = new Set<Slot>();
  readonly #finish: Finish;

  constructor(finish: Finish) {
    this.#finish = finish;
  }

  /** A slot for `task`, held until one of its handlers is called; `reusable` only for a native promise (it calls back once). */
  take(task: Task, reusable = true): Slot {
    let slot = reusable ? this.#free : undefined;
    if (slot === undefined) {
      slot = new Slot(this, this.#finish);
      slot.reusable = reusable;
      this.#all.add(slot);
    } else {
      this.#free = slot.nextFree;
      slot.nextFree = undefined;
    }
    slot.task = task;
    return slot;
  }

  free(slot: Slot): void {
    slot.nextFree = this.#free;
    this.#free = slot;
  }

  /** A one-use slot is done: forgotten (its handlers stay inert for good). */
  retire(slot: Slot): void {
    this.#all.delete(slot);
  }

  /** The async calls running now. */
  tasks(): Task[] {
    const tasks: Task[] = [];
    for (const slot of this.#all) if (slot.task !== undefined) tasks.push(slot.task);
    return tasks;
  }
}
