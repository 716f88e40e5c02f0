export type {
  AcquireOptions,
  Clock,
  Limiter,
  Permit,
  RetryPolicy,
  SchedulerObserver,
  Tool,
  ToolCall,
  ToolContext,
  ToolErrorInfo,
  ToolPolicy,
  ToolResult,
  ToolStatus,
} from './types.js';
export { McpConcurrencyError, isErrorCode, describeThrown, type ErrorCode, type McpConcurrencyErrorOptions } from './errors.js';
export { Scheduler, type SchedulerOptions, type RunOptions, type CloseOptions } from './scheduler.js';
export { ConcurrencyLimiter } from './concurrency-limiter.js';
export { WaiterQueue } from './waiter-queue.js';
export { composeObservers } from './observer.js';
export { planGraph } from './graph.js';
export { backoffDelay, resolveRetry, type ResolvedRetry } from './retry.js';
export { abortReason, onAbort, sleep } from './abort.js';
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
export {
  checkArguments,
  parametersSchema,
  type DescribedTool,
  type JsonObjectSchema,
  type ParameterSpec,
  type ParameterType,
} from './parameters.js';
