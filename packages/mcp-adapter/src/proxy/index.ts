export { connectUpstream, globToRegExp, priorOf, type ConnectUpstreamOptions, type UpstreamSpec } from './connect.js';
export { McpProxy, type ProxyOptions } from './proxy.js';
export { UpstreamSession } from './upstream-session.js';
