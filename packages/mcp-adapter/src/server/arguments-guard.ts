import type { CallToolResult, JSONRPCMessage, MessageExtraInfo, Transport, TransportSendOptions } from '@modelcontextprotocol/server';
import { errorResult } from './mcp-server.js';

/** A JSON object (not an array, not null): what `tools/call` arguments must be. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The tool error for arguments that are not a JSON object, or `undefined` when they are (or are absent). */
export function nonObjectArguments(name: string, args: unknown): CallToolResult | undefined {
  if (args === undefined || isPlainObject(args)) return undefined;
  const kind = Array.isArray(args) ? 'an array' : args === null ? 'null' : `a ${typeof args}`;
  return errorResult('invalid_params', `The arguments of "${name}" must be a JSON object, got ${kind}`);
}

/**
 * The answer to a `tools/call` whose `arguments` are not a JSON object: a tool error a model can read
 * (`isError`, code `invalid_params`, what came) instead of the SDK's JSON-RPC `-32602` with its schema
 * validator's dump. `undefined` for every other message.
 */
export function invalidArgumentsAnswer(message: unknown): JSONRPCMessage | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { method, id, params } = message as { method?: unknown; id?: unknown; params?: { name?: unknown; arguments?: unknown } };
  if (method !== 'tools/call' || (typeof id !== 'string' && typeof id !== 'number') || typeof params !== 'object' || params === null) return undefined;
  const result = nonObjectArguments(typeof params.name === 'string' ? params.name : '(unnamed)', params.arguments);
  return result === undefined ? undefined : { jsonrpc: '2.0', id, result };
}

/** A transport that answers `tools/call` requests with non-object `arguments` itself (see {@link invalidArgumentsAnswer}). */
export class ArgumentsGuard implements Transport {
  readonly #inner: Transport;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  constructor(inner: Transport) {
    this.#inner = inner;
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message, extra) => {
      const answer = invalidArgumentsAnswer(message);
      if (answer === undefined) this.onmessage?.(message, extra);
      else void inner.send(answer).catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(String(error))));
    };
  }

  get sessionId(): string | undefined {
    return this.#inner.sessionId;
  }

  get setProtocolVersion(): ((version: string) => void) | undefined {
    return this.#inner.setProtocolVersion?.bind(this.#inner);
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.#inner.send(message, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
