import type { McpRequestInfo } from '@mcp-concurrency/tracing-opentelemetry';
import { PROTOCOL_VERSION_META_KEY, type Server, type ServerContext } from '@modelcontextprotocol/server';

/**
 * What a SERVER span says about one request (MCP semantic conventions, docs/gen-ai/mcp.md):
 * `mcp.protocol.version` (the 2026-07-28 request's own `_meta` envelope, else the version the
 * session negotiated at `initialize`), `network.transport` (`tcp` when the request came over HTTP,
 * `pipe` for stdio), the JSON-RPC id and the session id. `tool` is left out when the caller may
 * not name it (an unknown tool's name is whatever the client sent: not a span name).
 */
export function serverRequestInfo(server: Server, ctx: ServerContext, method: string, tool: string | undefined): McpRequestInfo {
  const enveloped = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[PROTOCOL_VERSION_META_KEY];
  // The negotiated version: the session's (2025 revisions), for a request without the envelope.
  const protocolVersion = typeof enveloped === 'string' ? enveloped : server.getNegotiatedProtocolVersion();
  return {
    method,
    tool,
    requestId: ctx.mcpReq.id,
    sessionId: ctx.sessionId,
    protocolVersion,
    transport: ctx.http?.req === undefined ? 'pipe' : 'tcp',
  };
}
