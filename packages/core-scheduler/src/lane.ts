/** Lanes: the queued calls that share every limit (one tool, one key), in an intrusive list sorted by priority. */
import type { Task } from './task.js';
import type { ToolState } from './tool-state.js';

/** A slot counter: the global cap, one tool's cap, one key's cap. */
export interface Gate {
  limit: number;
  running: number;
}

/** A per-key gate, shared by every tool's lane for that key; `users` counts its unsettled calls. */
export interface KeyGate extends Gate {
  users: number;
}

/** An intrusive doubly-linked list of tasks (through `task.prev`/`task.next`): O(1) push and remove, no nodes. */
export class TaskList {
  head: Task | undefined = undefined;
  tail: Task | undefined = undefined;
  size = 0;

  push(task: Task): void {
    this.size++;
    task.next = undefined;
    task.prev = this.tail;
    if (this.tail === undefined) this.head = task;
    else this.tail.next = task;
    this.tail = task;
  }

  remove(task: Task): void {
    this.size--;
    if (task.prev === undefined) this.head = task.next;
    else task.prev.next = task.next;
    if (task.next === undefined) this.tail = task.prev;
    else task.next.prev = task.prev;
    task.prev = task.next = undefined;
  }
}

/**
 * The queued calls that share every limit: one tool (and one key, with per-key limits). Sorted by
 * priority (higher first), FIFO within a priority, so a cancelled call leaves in O(1) and a queued
 * call costs no node of its own.
 */
export class Lane extends TaskList {
  /** The call taken from the head that is waiting for its named limiters. It blocks the lane: FIFO. */
  acquiring: Task | undefined = undefined;
  /** A call holding its limiter permits, waiting only for a slot; it goes first. */
  ready: Task | undefined = undefined;
  /** Position in the scheduler's list of active lanes, -1 when idle. */
  activeIndex = -1;

  constructor(
    readonly tool: ToolState,
    readonly keyGate: KeyGate | undefined,
    readonly key: string | undefined,
  ) {
    super();
  }

  /** The call that would start next, if the lane's gates let it. */
  candidate(): Task | undefined {
    if (this.ready !== undefined) return this.ready;
    if (this.acquiring !== undefined) return undefined;
    return this.head;
  }

  isIdle(): boolean {
    return this.size === 0 && this.acquiring === undefined && this.ready === undefined;
  }

  /** Inserts in priority order, then submission order (a retried call goes back where it first stood). */
  insert(task: Task): void {
    const tail = this.tail;
    const priority = task.priority;
    if (tail === undefined || goesBefore(tail, priority, task.seq)) {
      this.push(task);
      return;
    }
    this.size++;
    let after: Task | undefined = tail.prev;
    while (after !== undefined && !goesBefore(after, priority, task.seq)) after = after.prev;
    task.prev = after;
    if (after === undefined) {
      task.next = this.head;
      this.head = task;
    } else {
      task.next = after.next;
      after.next = task;
    }
    // `after` is never the tail here, so task.next is set.
    task.next!.prev = task;
  }
}

function goesBefore(task: Task, priority: number, seq: number): boolean {
  const p = task.priority;
  return p > priority || (p === priority && task.seq < seq);
}
