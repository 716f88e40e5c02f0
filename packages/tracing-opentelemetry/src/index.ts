export { TracingObserver, type TracingObserverOptions } from './observer.js';
export {
  extractMeta,
  httpTraceHeaders,
  injectMeta,
  sqlTraceComment,
  traceHeaders,
  type PropagationOptions,
  type Propagator,
} from './propagation.js';
export * as attributes from './attributes.js';
export { McpTracing, type McpRequestInfo, type McpTracingOptions } from './mcp.js';
