/**
 * Per-key caps: the gate of each key (a tenant, a session, an origin) shared by every tool's lane for
 * that key, kept only while the key has unsettled or running calls.
 */
import { Lane, type KeyGate } from './lane.js';
import type { Task } from './task.js';
import type { ToolState } from './tool-state.js';
import type { ToolCall } from './types.js';
import { checkPositiveInteger, invalidArgument } from './validate.js';

export type MaxPerKey = number | ((key: string) => number);

/** The limit option, checked: a function is kept as is, a number must be an integer >= 1 or Infinity. */
export function checkMaxPerKey(value: unknown): MaxPerKey {
  if (typeof value === 'function') return value as (key: string) => number;
  return checkPositiveInteger('maxPerKey', value, true);
}

export class KeyGates {
  readonly #gates = new Map<string, KeyGate>();
  readonly #keyOf: (call: ToolCall) => string | undefined;
  #maxPerKey: MaxPerKey;

  constructor(keyOf: (call: ToolCall) => string | undefined, maxPerKey: MaxPerKey) {
    this.#keyOf = keyOf;
    this.#maxPerKey = maxPerKey;
  }

  /** Changes every key's limit; calls already running keep going. */
  setMaxPerKey(maxPerKey: MaxPerKey): void {
    this.#maxPerKey = maxPerKey;
    for (const [key, gate] of this.#gates) gate.limit = this.#limitFor(key);
  }

  /** The lane of `call`: its tool's keyed lane, or the tool's plain lane when the key function gives none (or throws). */
  laneFor(tool: ToolState, call: ToolCall): Lane {
    let key: unknown;
    try {
      key = this.#keyOf(call);
    } catch {
      key = undefined;
    }
    if (typeof key !== 'string') return tool.lane;
    let lane = tool.keyed.get(key);
    if (lane === undefined) {
      let gate = this.#gates.get(key);
      if (gate === undefined) {
        gate = { limit: this.#limitFor(key), running: 0, users: 0 };
        this.#gates.set(key, gate);
      }
      lane = new Lane(tool, gate, key);
      tool.keyed.set(key, lane);
    }
    return lane;
  }

  /** A call of the key settled (and no longer runs): the gate goes when nobody uses it. */
  release(task: Task): void {
    const gate = task.lane.keyGate;
    if (gate !== undefined && --gate.users === 0 && gate.running === 0) this.#gates.delete(task.lane.key!);
  }

  /** A limit function that throws or returns a non-number means no limit for that key. */
  #limitFor(key: string): number {
    const limit = this.#maxPerKey;
    if (typeof limit === 'number') return limit;
    let value: unknown;
    try {
      value = limit(key);
    } catch {
      return Infinity;
    }
    return typeof value === 'number' && value >= 1 ? value : Infinity;
  }
}

/** The error for `maxPerKey` without `key`. */
export function keyRequired(value: unknown): Error {
  return invalidArgument('key', 'a function when `maxPerKey` is set', value);
}
