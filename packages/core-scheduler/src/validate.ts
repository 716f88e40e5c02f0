/** Option validation: checks that throw `invalid_argument` naming the option, what was expected and what came. */
import { McpConcurrencyError } from './errors.js';

/** `"10"` (string), `-1` (number), `undefined`: how a bad option value is shown in a message. */
export function showValue(value: unknown): string {
  if (value === undefined) return '`undefined`';
  if (value === null) return '`null`';
  if (typeof value === 'function') return '(function)';
  let text: string;
  let kind: string = typeof value;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : String(value);
    if (Array.isArray(value)) kind = 'array';
  } catch {
    try {
      text = Object.prototype.toString.call(value);
    } catch {
      // A revoked proxy: nothing of it can be read.
      text = '(unreadable)';
    }
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return `\`${text}\` (${kind})`;
}

export function invalidArgument(name: string, expected: string, value: unknown): McpConcurrencyError {
  return new McpConcurrencyError('invalid_argument', `Expected \`${name}\` to be ${expected}, got ${showValue(value)}`);
}

/** A finite number > 0 (or `Infinity` when `allowInfinity`). */
export function checkPositive(name: string, value: unknown, allowInfinity = false): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (!allowInfinity && !Number.isFinite(value))) {
    throw invalidArgument(name, allowInfinity ? 'a number > 0 (Infinity allowed)' : 'a finite number > 0', value);
  }
  return value;
}

/** A finite number >= 0 (or `Infinity` when `allowInfinity`). */
export function checkNonNegative(name: string, value: unknown, allowInfinity = false): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!allowInfinity && !Number.isFinite(value))) {
    throw invalidArgument(name, allowInfinity ? 'a number >= 0 (Infinity allowed)' : 'a finite number >= 0', value);
  }
  return value;
}

/** An integer >= 1, or `Infinity` when `allowInfinity`. */
export function checkPositiveInteger(name: string, value: unknown, allowInfinity = false): number {
  if (typeof value === 'number' && ((Number.isInteger(value) && value >= 1) || (allowInfinity && value === Infinity))) {
    return value;
  }
  throw invalidArgument(name, allowInfinity ? 'an integer >= 1 or Infinity' : 'an integer >= 1', value);
}

/** An integer >= 0, or `Infinity` when `allowInfinity`. */
export function checkNonNegativeInteger(name: string, value: unknown, allowInfinity = false): number {
  if (typeof value === 'number' && ((Number.isInteger(value) && value >= 0) || (allowInfinity && value === Infinity))) {
    return value;
  }
  throw invalidArgument(name, allowInfinity ? 'an integer >= 0 or Infinity' : 'an integer >= 0', value);
}

export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') throw invalidArgument(name, 'a function', value);
}

export function checkNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(name, 'a non-empty string', value);
  return value;
}

/** `undefined` or a real `AbortSignal` (an object that only claims to be one, whose `aborted` throws, is refused). */
export function checkSignal(name: string, value: unknown): void {
  if (signalState(value) === 'invalid') throw invalidArgument(name, 'an AbortSignal', value);
}

/**
 * What a caller's `signal` is: none, live, aborted, or not an `AbortSignal` at all (including an object made
 * from `AbortSignal.prototype` whose getters throw, and a revoked proxy). Never throws.
 */
export function signalState(value: unknown): 'none' | 'live' | 'aborted' | 'invalid' {
  if (value === undefined) return 'none';
  try {
    if (!(value instanceof AbortSignal)) return 'invalid';
    return value.aborted ? 'aborted' : 'live';
  } catch {
    return 'invalid';
  }
}

/** Node's longest timer, in ms (2^31 - 1): a longer delay would fire after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A deadline or delay in ms: a number > 0 and at most Node's longest timer, or `Infinity` (none). */
export function checkDeadline(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (value > MAX_TIMER_MS && value !== Infinity)) {
    throw invalidArgument(name, `a number of ms > 0 and at most ${MAX_TIMER_MS} (Node's longest timer), or Infinity`, value);
  }
  return value;
}
