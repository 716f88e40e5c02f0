export { loadConfig, parseConfig, ms, type McpConfig, type ToolConfig, type ProxyRule, type RateLimitConfig, type RetryConfig, type ToolKind, type ToolAnnotationsConfig } from './config/load.js';
export { configSchema } from './config/schema.js';
export { ToolRuntime, type CallEnvelope, type ServedTool, type RuntimeOptions } from './runtime.js';
export { createMcpServer, toCallToolResult, errorResult, BATCH_TOOL, type McpServerOptions } from './server/mcp-server.js';
export { serveHttp, serveStdio, type HttpServeOptions, type Serving } from './server/serve.js';
export { connectUpstream, proxyUpstream, globToRegExp, type UpstreamSpec } from './proxy.js';
export { scriptTool, type ScriptToolDefinition } from './tools/script-tool.js';
export { withConcurrency, type WithConcurrencyOptions } from './server/wrap-mcp-server.js';
export { McpFanout, type FanoutOptions, type ModelToolCall, type FanoutResult } from './client/fanout.js';
