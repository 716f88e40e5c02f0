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

/**
 * One downstream client's own upstream session (MCP 2025 revisions are stateful: log level,
 * subscriptions and pending elicitations belong to a session). Opened on the client's first request
 * that goes upstream, with the client's own capabilities (sampling, elicitation, roots) so the
 * upstream asks only for what the client can answer; closed with the downstream session.
 *
 * Server-to-client requests of the upstream (sampling, elicitation, roots) are sent to this client
 * only, on the stream of a request of its that is in flight when there is one (so a Streamable HTTP
 * client sees them on the response of the call that caused them).
 */
export class UpstreamSession {
  readonly #downstream: Server;
  readonly #spec: UpstreamSpec;
  readonly #prior: PriorDiscovery;
  readonly #name: string;
  readonly #inFlight = new Set<ServerContext>();
  #client: Promise<Client> | undefined;
  #closed = false;
  /** Called when the upstream says its tools changed (the proxy refreshes its policy table). */
  onToolsChanged: (() => void) | undefined;

  constructor(downstream: Server, spec: UpstreamSpec, prior: PriorDiscovery, name: string) {
    this.#downstream = downstream;
    this.#spec = spec;
    this.#prior = prior;
    this.#name = name;
  }

  /** The session's client, connecting on first use. */
  client(): Promise<Client> {
    if (this.#closed) return Promise.reject(new Error('The downstream session is closed'));
    this.#client ??= this.#connect();
    return this.#client;
  }

  /** Runs `work` with `ctx` known as a request of this client in flight (where upstream requests are routed). */
  async during<T>(ctx: ServerContext, work: () => Promise<T>): Promise<T> {
    this.#inFlight.add(ctx);
    try {
      return await work();
    } finally {
      this.#inFlight.delete(ctx);
    }
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
      connectUpstream(this.#spec, { name: downstream.getClientVersion()?.name ?? this.#name, capabilities, era, beforeConnect: (client) => this.#wire(client, capabilities) });
    // A 2025-revision client is stateful (log level, subscriptions, server-to-client requests belong to
    // its session), so its upstream session is pinned to a 2025 revision (`initialize`) even when the
    // upstream also speaks 2026-07-28: a 2026-07-28 connection is stateless and could carry none of
    // that. Only an upstream that refuses `initialize` (2026-07-28 only) gets the 2026-07-28 connection.
    if (this.#prior.kind === 'legacy') return connect('legacy');
    return connect('legacy').catch(() => connect(this.#prior));
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
    if (capabilities.sampling) client.setRequestHandler('sampling/createMessage', (request, ctx) => this.#ask(request, ctx.mcpReq.signal));
    if (capabilities.elicitation) client.setRequestHandler('elicitation/create', (request, ctx) => this.#ask(request, ctx.mcpReq.signal));
    if (capabilities.roots) client.setRequestHandler('roots/list', (request, ctx) => this.#ask(request, ctx.mcpReq.signal));
  }

  /**
   * Sends an upstream's server-to-client request to this client, on the response stream of one of its
   * requests in flight (the oldest first), or on the session's standalone stream when none is.
   *
   * Which downstream request caused it cannot be known: the SDK v2 client hands the handler only the
   * upstream's own request id (its context carries no related request), a stdio upstream's message names
   * no request, and the Streamable HTTP client transport delivers a message without the stream it came on.
   * So the question goes where it cannot be lost: the oldest request in flight (a later request, started
   * after it, cannot have caused the question of an earlier one waiting for its answer), and if that
   * request is cancelled before the question is answered, it is asked again on the next one (finally on
   * the standalone stream). `signal` (the upstream's cancellation) ends it wherever it is.
   */
  async #ask<M extends 'sampling/createMessage' | 'elicitation/create' | 'roots/list'>(request: { method: M; params?: Record<string, unknown> }, signal: AbortSignal) {
    const message = { method: request.method, params: request.params };
    const tried = new Set<ServerContext>();
    for (;;) {
      const related = [...this.#inFlight].find((ctx) => !tried.has(ctx) && !ctx.mcpReq.signal.aborted);
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
