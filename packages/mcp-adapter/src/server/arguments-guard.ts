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

/** `deliver`, except for a `tools/call` with non-object arguments: that one is answered on `transport` (see {@link invalidArgumentsAnswer}). */
function guarding(transport: Transport, deliver: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void, onerror: (error: Error) => void) {
  return (message: JSONRPCMessage, extra?: MessageExtraInfo): void => {
    const answer = invalidArgumentsAnswer(message);
    if (answer === undefined) deliver(message, extra);
    else void transport.send(answer).catch((error: unknown) => onerror(error instanceof Error ? error : new Error(String(error))));
  };
}

/**
 * Puts the arguments check between a server and every transport it is connected to, after `connect()`:
 * a message reaches it only once the transport has taken it, so an HTTP transport's own checks (session
 * id, protocol-version and `Mcp-*` headers) answer first, as the SDK's per-request transports do before
 * delivering. The transport object stays the SDK's own (its class and methods are what the server expects).
 * Returns `server`.
 */
export function guardArguments<S extends { connect(transport: Transport): Promise<void> }>(server: S): S {
  const connect = server.connect.bind(server);
  server.connect = async (transport: Transport): Promise<void> => {
    await connect(transport);
    const deliver = transport.onmessage;
    if (deliver !== undefined) transport.onmessage = guarding(transport, deliver.bind(transport), (error) => transport.onerror?.(error));
  };
  return server;
}

/**
 * A transport that answers `tools/call` requests with non-object `arguments` itself (see
 * {@link invalidArgumentsAnswer}), and keeps count of the requests it delivered that are not answered yet
 * (so a server can answer them before it closes: {@link ArgumentsGuard.answered}).
 */
export class ArgumentsGuard implements Transport {
  readonly #inner: Transport;
  readonly #unanswered = new Set<string | number>();
  #whenAnswered: (() => void) | undefined;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  constructor(inner: Transport) {
    this.#inner = inner;
    inner.onclose = () => {
      this.#unanswered.clear();
      this.#whenAnswered?.();
      this.onclose?.();
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = guarding(
      inner,
      (message, extra) => {
        const id = requestId(message);
        if (id !== undefined) this.#unanswered.add(id);
        this.onmessage?.(message, extra);
      },
      (error) => this.onerror?.(error),
    );
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

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    await this.#inner.send(message, options);
    const { id } = message as { id?: unknown };
    if ((typeof id === 'string' || typeof id === 'number') && ('result' in message || 'error' in message) && this.#unanswered.delete(id) && this.#unanswered.size === 0) {
      this.#whenAnswered?.();
    }
  }

  /** Resolves once every request delivered so far has had its response written (or the transport closed). */
  answered(): Promise<void> {
    if (this.#unanswered.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const previous = this.#whenAnswered;
      this.#whenAnswered = () => {
        this.#whenAnswered = undefined;
        previous?.();
        resolve();
      };
    });
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** The id of a JSON-RPC request (a message with a method and an id), else undefined. */
function requestId(message: JSONRPCMessage): string | number | undefined {
  const { id, method } = message as { id?: unknown; method?: unknown };
  return typeof method === 'string' && (typeof id === 'string' || typeof id === 'number') ? id : undefined;
}
