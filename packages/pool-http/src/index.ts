export { HttpClient, type HttpClientOptions, type HttpRequest as HttpClientRequest, type PreparedRequest } from './http-client.js';
export { HttpPool, type HttpPoolOptions, type HttpRequest, type FetchOptions, type HttpPoolStats } from './http-pool.js';
export { OriginLimits, type OriginLimitsOptions, type NamedLimiter } from './origin-limits.js';
export { throttleOnRetryAfter } from './throttle.js';
export { readBody, parseRetryAfter, type HttpResponse, type ResponseType } from './response.js';
export { DestinationGuard, type DestinationGuardOptions, type LookupAll } from './ssrf.js';
export { AddressPolicy, type NetworkInterfaces } from './address-policy.js';
export { httpTool, type HttpTool, type HttpToolDefinition, type HttpToolOptions, type HttpParameter } from './http-tool.js';
export type { CloseOptions } from './lifecycle.js';
