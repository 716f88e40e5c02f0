import { AsyncLocalStorage } from 'node:async_hooks';
import type { Client, ClientCapabilities, PriorDiscovery } from '@modelcontextprotocol/client';
import type { Server, ServerContext } from '@modelcontextprotocol/server';
import { connectUpstream, type UpstreamSpec } from './connect.js';

/** Notifications an upstream sends on its own that go, unchanged, to the client that owns the session. */
const RELAYED_NOTIFICATIONS = [
  'notifications/message',
  'notifications/resources/updated',
  'notifications/resources/list_changed',
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/elicitation/complete',
] as const;

/** The server-to-client requests relayed to the client that caused them. */
const ASKS: ReadonlySet<string> = new Set(['sampling/createMessage', 'elicitation/create', 'roots/list']);

/**
 * One downstream client's own upstream session (MCP 2025 revisions are stateful: log level,
 * subscriptions and pending elicitations belong to a session). Opened on the client's first request
 * that goes upstream, with the client's own capabilities (sampling, elicitation, roots) so the
 * upstream asks only for what the client can answer; closed with the downstream session.
 *
 * Server-to-client requests of the upstream (sampling, elicitation, roots) are sent to this client
 * only, on the response stream of the call that caused them when a Streamable HTTP upstream sent them
 * on that call's stream, else of another of its requests in flight (see `#ask`).
 */
export class UpstreamSession {
  readonly #downstream: Server;
  readonly #spec: UpstreamSpec;
  readonly #prior: PriorDiscovery;
  readonly #name: string;
  readonly #inFlight = new Set<ServerContext>();
  /** The downstream request an upstream request is being made for (the POST's async context). */
  readonly #origin = new AsyncLocalStorage<ServerContext>();
  /** Streamable HTTP upstream: the downstream request whose upstream response stream carried a server-to-client request, by that request's id. */
  readonly #askedOn = new Map<string | number, ServerContext>();
  #client: Promise<Client> | undefined;
  #closed = false;
  /** Why the upstream session is gone (see `#lose`); undefined while it lives. */
  #lost: string | undefined;
  /** Called when the upstream says its tools changed (the proxy refreshes its policy table). */
  onToolsChanged: (() => void) | undefined;
  /**
   * Called once the upstream session is gone and every request of this client in flight has been answered:
   * the proxy then ends the downstream session, so the client's next request gets HTTP 404 and it starts a
   * new session (MCP basic/transports: session management), with a new upstream session.
   */
  onLost: ((why: string) => void) | undefined;

  constructor(downstream: Server, spec: UpstreamSpec, prior: PriorDiscovery, name: string) {
    this.#downstream = downstream;
    this.#spec = spec;
    this.#prior = prior;
    this.#name = name;
  }

  /** The session's client, connecting on first use. */
  client(): Promise<Client> {
    if (this.#closed) return Promise.reject(new Error('The downstream session is closed'));
    if (this.#lost !== undefined) return Promise.reject(new Error(`The upstream session ended (${this.#lost}): start a new session with initialize`));
    this.#client ??= this.#connect();
    return this.#client;
  }

  /** Runs `work` with `ctx` known as a request of this client in flight (where upstream requests are routed). */
  async during<T>(ctx: ServerContext, work: () => Promise<T>): Promise<T> {
    this.#inFlight.add(ctx);
    try {
      return await this.#origin.run(ctx, work);
    } finally {
      this.#inFlight.delete(ctx);
      for (const [id, asker] of this.#askedOn) if (asker === ctx) this.#askedOn.delete(id);
      if (this.#lost !== undefined) this.#endWhenAnswered();
    }
  }

  /**
   * The upstream session is gone (an HTTP upstream answered 404 for it, or a response stream broke): its
   * client is closed, so every upstream request in flight fails now (the SDK client would otherwise wait on
   * a dead stream's reconnection), and so does every later one; the downstream session ends once this
   * client's requests in flight have their answers.
   */
  #lose(why: string): void {
    if (this.#lost !== undefined || this.#closed) return;
    this.#lost = why;
    void this.#client?.then((client) => client.close()).catch(() => {});
    this.#endWhenAnswered();
  }

  #endWhenAnswered(): void {
    if (this.#inFlight.size > 0 || this.onLost === undefined) return;
    const onLost = this.onLost;
    this.onLost = undefined;
    // After the last answer has gone out (it is sent once the handler's promise settles).
    setImmediate(() => onLost(this.#lost!));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = await this.#client?.catch(() => undefined);
    await client?.close().catch(() => {});
  }

  #connect(): Promise<Client> {
    const downstream = this.#downstream;
    const offered = downstream.getClientCapabilities() ?? {};
    const capabilities: ClientCapabilities = {
      ...(offered.sampling ? { sampling: offered.sampling } : {}),
      ...(offered.elicitation ? { elicitation: offered.elicitation } : {}),
      ...(offered.roots ? { roots: offered.roots } : {}),
    };
    const connect = (era: 'legacy' | PriorDiscovery): Promise<Client> =>
      connectUpstream(this.#spec, {
        name: downstream.getClientVersion()?.name ?? this.#name,
        capabilities,
        era,
        beforeConnect: (client) => this.#wire(client, capabilities),
        onSessionLost: (why) => this.#lose(why),
        // Over Streamable HTTP the upstream sends a request's questions on that request's response stream.
        ...(Object.keys(capabilities).length === 0 ? {} : { onResponseStream: () => this.#watch() }),
      });
    // A 2025-revision client is stateful (log level, subscriptions, server-to-client requests belong to
    // its session), so its upstream session is pinned to a 2025 revision (`initialize`) even when the
    // upstream also speaks 2026-07-28: a 2026-07-28 connection is stateless and could carry none of
    // that. Only an upstream that refuses `initialize` (2026-07-28 only) gets the 2026-07-28 connection.
    // A stdio upstream that exits (or any connection that closes under the session) is a lost session too.
    const watched = (client: Client): Client => {
      client.onclose = () => this.#lose('the upstream connection closed');
      // A response stream that broke (the upstream died mid-answer): the SDK client reports it here (never for
      // a stream this side aborted) and would wait on its reconnection for as long as the call's deadline.
      client.onerror = (error) => {
        if (error.message.startsWith('SSE stream disconnected')) this.#lose(`an upstream response stream broke (${error.message})`);
      };
      return client;
    };
    if (this.#prior.kind === 'legacy') return connect('legacy').then(watched);
    return connect('legacy')
      .catch(() => connect(this.#prior))
      .then(watched);
  }

  /** For a POST made for a downstream request: notes which server-to-client requests come on its response stream. */
  #watch(): ((message: { method: string; id?: string | number }) => void) | undefined {
    const ctx = this.#origin.getStore();
    if (ctx === undefined) return undefined;
    return (message) => {
      if (message.id !== undefined && ASKS.has(message.method) && this.#inFlight.has(ctx)) this.#askedOn.set(message.id, ctx);
    };
  }

  /** Relays the upstream's notifications and server-to-client requests to this client. */
  #wire(client: Client, capabilities: ClientCapabilities): void {
    const downstream = this.#downstream;
    for (const method of RELAYED_NOTIFICATIONS) {
      client.setNotificationHandler(method, (notification) => {
        if (method === 'notifications/tools/list_changed') this.onToolsChanged?.();
        void downstream.notification({ method, params: notification.params } as Parameters<Server['notification']>[0]).catch(() => {});
      });
    }
    // Declared capabilities only: the SDK refuses a handler for a capability the client lacks.
    if (capabilities.sampling) client.setRequestHandler('sampling/createMessage', (request, ctx) => this.#ask(request, ctx.mcpReq.id, ctx.mcpReq.signal));
    if (capabilities.elicitation) client.setRequestHandler('elicitation/create', (request, ctx) => this.#ask(request, ctx.mcpReq.id, ctx.mcpReq.signal));
    if (capabilities.roots) client.setRequestHandler('roots/list', (request, ctx) => this.#ask(request, ctx.mcpReq.id, ctx.mcpReq.signal));
  }

  /**
   * Sends an upstream's server-to-client request (its id `id`) to this client, on the response stream of
   * the request of this client that caused it, or of another of its requests in flight, or on the
   * session's standalone stream when none is.
   *
   * The SDK v2 client hands the handler only the upstream's own request id (its context carries no related
   * request). A Streamable HTTP upstream sends the question on the response stream of the request that
   * caused it, which the proxy reads on its way to the SDK (`onResponseStream`): that request is first.
   * A stdio upstream's message names no request: there the oldest request in flight comes first (the one
   * waiting longest). If the request it goes on is cancelled before the question is answered, it is asked
   * again on the next one (finally on the standalone stream), so it is not lost. `signal` (the upstream's
   * cancellation) ends it wherever it is.
   */
  async #ask<M extends 'sampling/createMessage' | 'elicitation/create' | 'roots/list'>(request: { method: M; params?: Record<string, unknown> }, id: string | number, signal: AbortSignal) {
    const message = { method: request.method, params: request.params };
    const origin = this.#askedOn.get(id);
    this.#askedOn.delete(id);
    const tried = new Set<ServerContext>();
    for (;;) {
      const candidates = origin === undefined ? [...this.#inFlight] : [origin, ...this.#inFlight];
      const related = candidates.find((ctx) => !tried.has(ctx) && this.#inFlight.has(ctx) && !ctx.mcpReq.signal.aborted);
      if (related === undefined) return this.#downstream.request(message, { signal, timeout: 2 ** 31 - 1 });
      tried.add(related);
      const stream = related.mcpReq.signal;
      try {
        return await related.mcpReq.send(message, { signal: AbortSignal.any([signal, stream]), timeout: 2 ** 31 - 1 });
      } catch (error) {
        // Only the request that carried it went away (cancelled): the question is asked again elsewhere.
        if (signal.aborted || !stream.aborted) throw error;
      }
    }
  }
}
