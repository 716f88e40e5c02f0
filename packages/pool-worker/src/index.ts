export {
  WorkerPool,
  type WorkerPoolStats,
  type WorkerRunOptions,
  type WorkerPoolCloseOptions,
} from './worker-pool.js';
export { type WorkerPoolOptions } from './options.js';
export { workerTool, type WorkerToolDefinition } from './worker-tool.js';
