/**
 * The contract of mcp-concurrency: the shared types, the error class and its codes, `Scheduler` and
 * `ConcurrencyLimiter`. Helpers for writing a plugin (option validation, abort helpers, `WaiterQueue`,
 * typed tool parameters) are at `@mcp-concurrency/core-scheduler/plugin`.
 */
export type {
  AcquireOptions,
  Clock,
  CloseOptions,
  Lifecycle,
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
export { ERROR_CODES, isErrorCode, McpConcurrencyError, type ErrorCode, type McpConcurrencyErrorOptions } from './errors.js';
export { Scheduler } from './scheduler.js';
export type { AddOptions, RunOptions, SchedulerOptions, WrapPolicy } from './options.js';
export type { QueuedFunction } from './function-api.js';
export { ConcurrencyLimiter } from './concurrency-limiter.js';
