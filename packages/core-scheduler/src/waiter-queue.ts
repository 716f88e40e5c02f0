/** `WaiterQueue`: the FIFO of callers waiting on a limiter, shared by every limiter implementation. */
import { abortReason } from './abort.js';

interface Waiter<T> {
  readonly cost: number;
  readonly resolve: (value: T) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  next: Waiter<T> | undefined;
  prev: Waiter<T> | undefined;
}

/**
 * The FIFO of waiters behind a `Limiter`: each waits for `cost` units, an aborted waiter leaves at
 * once (its listener removed, rejected with the signal's reason), and the owner grants from the
 * head. Shared by every limiter implementation so they agree on order and cancellation.
 */
export class WaiterQueue<T> {
  #head: Waiter<T> | undefined;
  #tail: Waiter<T> | undefined;
  #size = 0;
  #cost = 0;

  /** `onAborted(wasHead)` lets the owner re-check: the head may have been what blocked the rest. */
  constructor(private readonly onAborted?: (wasHead: boolean) => void) {}

  get size(): number {
    return this.#size;
  }
  /** Units all waiters need together. */
  get cost(): number {
    return this.#cost;
  }
  /** What the head waits for, or undefined when nobody waits. */
  get headCost(): number | undefined {
    return this.#head?.cost;
  }

  /** Queues a waiter. The caller has checked `signal.aborted` already. */
  wait(cost: number, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { cost, resolve, reject, signal, onAbort: undefined, next: undefined, prev: this.#tail };
      if (this.#tail === undefined) this.#head = waiter;
      else this.#tail.next = waiter;
      this.#tail = waiter;
      this.#size++;
      this.#cost += cost;
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const wasHead = waiter === this.#head;
          this.#unlink(waiter);
          reject(abortReason(signal));
          this.onAborted?.(wasHead);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
    });
  }

  /** Removes the head and resolves it with `value`. */
  grantHead(value: T): void {
    const head = this.#head;
    if (head === undefined) return;
    this.#unlink(head);
    head.resolve(value);
  }

  /** Rejects every waiter with `reason`. */
  rejectAll(reason: unknown): void {
    while (this.#head !== undefined) {
      const head = this.#head;
      this.#unlink(head);
      head.reject(reason);
    }
  }

  #unlink(waiter: Waiter<T>): void {
    if (waiter.prev === undefined) this.#head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.#tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.next = waiter.prev = undefined;
    this.#size--;
    this.#cost -= waiter.cost;
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort);
  }
}
