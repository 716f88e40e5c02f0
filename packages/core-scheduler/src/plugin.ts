/**
 * `@mcp-concurrency/core-scheduler/plugin`: what an author of a limiter, a pool or a tool needs beyond
 * the contract. Option validation with messages that name the option, the value and its type; abort
 * helpers; the FIFO of abortable waiters every limiter of the project shares; the lifecycle state machine
 * every resource delegates `close()` / `destroy()` to; typed tool parameters.
 */
export {
  checkFunction,
  checkNonEmptyString,
  checkNonNegative,
  checkNonNegativeInteger,
  checkPositive,
  checkPositiveInteger,
  checkSignal,
  invalidArgument,
  showValue,
} from './validate.js';
export { abortReason, onAbort, sleep } from './abort.js';
export { describeThrown } from './errors.js';
export { WaiterQueue } from './waiter-queue.js';
export { closedError, LifecycleState, type LifecycleHooks } from './lifecycle.js';
export {
  checkArguments,
  parametersSchema,
  type DescribedTool,
  type JsonObjectSchema,
  type ParameterSpec,
  type ParameterType,
} from './parameters.js';
