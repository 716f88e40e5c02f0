export { HttpPool, type HttpPoolOptions, type HttpRequest, type FetchOptions, type HttpPoolStats } from './http-pool.js';
export { readBody, parseRetryAfter, type HttpResponse, type ResponseType } from './response.js';
export { DestinationGuard } from './ssrf.js';
export { httpTool, type HttpToolDefinition, type HttpParameter } from './http-tool.js';
