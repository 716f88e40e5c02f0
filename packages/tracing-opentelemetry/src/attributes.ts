/**
 * Attribute, event and span names. The `gen_ai.*`, `mcp.*`, `jsonrpc.*` and `error.type` keys are
 * the OpenTelemetry semantic conventions (semantic-conventions-genai: docs/gen-ai/mcp.md and
 * docs/gen-ai/execute-tool.md, status Development); the `mcp_concurrency.*` keys are ours: what the
 * scheduler adds to a call (time queued, limiter waits, retries, deadlines, the final status).
 */

// Semantic conventions.
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
export const ATTR_GEN_AI_TOOL_CALL_ID = 'gen_ai.tool.call.id';
export const ATTR_GEN_AI_TOOL_CALL_ARGUMENTS = 'gen_ai.tool.call.arguments';
export const ATTR_GEN_AI_TOOL_CALL_RESULT = 'gen_ai.tool.call.result';
export const ATTR_MCP_METHOD_NAME = 'mcp.method.name';
export const ATTR_MCP_PROTOCOL_VERSION = 'mcp.protocol.version';
export const ATTR_MCP_SESSION_ID = 'mcp.session.id';
export const ATTR_JSONRPC_REQUEST_ID = 'jsonrpc.request.id';
export const ATTR_RPC_RESPONSE_STATUS_CODE = 'rpc.response.status_code';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_NETWORK_TRANSPORT = 'network.transport';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
/** `gen_ai.operation.name` of a tool call. */
export const EXECUTE_TOOL = 'execute_tool';
/** `error.type` of a `CallToolResult` with `isError: true` (mcp.md, note on `error.type`). */
export const TOOL_ERROR = 'tool_error';

// Ours: the scheduler's detail on a call span.
/** Final status of the call: `ok`, `error`, `timeout`, `cancelled`, `skipped`, `rejected`. */
export const ATTR_STATUS = 'mcp_concurrency.call.status';
/** The stable error code of a failed call (`timeout`, `queue_full`, `rate_limited`, ...). */
export const ATTR_ERROR_CODE = 'mcp_concurrency.error.code';
/** From submission to the first start, in ms (double). */
export const ATTR_QUEUED_MS = 'mcp_concurrency.call.queued_ms';
/** From the first start to settlement, retry waits included, in ms (double). */
export const ATTR_RUN_MS = 'mcp_concurrency.call.run_ms';
/** Attempts made (0 when the call never started). */
export const ATTR_ATTEMPTS = 'mcp_concurrency.call.attempts';
/** Which deadline fired: `run` (code `timeout`) or `queue` (code `queue_timeout`). */
export const ATTR_DEADLINE = 'mcp_concurrency.deadline';
/** The deadline that fired, in ms, when the call carried it (`timeoutMs` / `queueTimeoutMs`). */
export const ATTR_DEADLINE_MS = 'mcp_concurrency.deadline_ms';
/** Event: one limiter granted the call (attributes: limiter name, wait in ms). */
export const EVENT_LIMITER_WAIT = 'mcp_concurrency.limiter_wait';
export const ATTR_LIMITER = 'mcp_concurrency.limiter.name';
export const ATTR_LIMITER_WAITED_MS = 'mcp_concurrency.limiter.waited_ms';
/** Event: an attempt started (attributes: attempt number, ms since submission). */
export const EVENT_ATTEMPT = 'mcp_concurrency.attempt';
export const ATTR_ATTEMPT = 'mcp_concurrency.attempt';
export const ATTR_WAITED_MS = 'mcp_concurrency.waited_ms';
/** Event: a failed attempt will be retried (attributes: next attempt, delay in ms, cause's code). */
export const EVENT_RETRY = 'mcp_concurrency.retry';
export const ATTR_RETRY_DELAY_MS = 'mcp_concurrency.retry.delay_ms';
/** Event: a deadline fired (attributes: which one, its ms when known). */
export const EVENT_DEADLINE = 'mcp_concurrency.deadline';
