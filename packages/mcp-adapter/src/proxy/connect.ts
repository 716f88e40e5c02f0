import { fileURLToPath } from 'node:url';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';
import { Client, StreamableHTTPClientTransport, type ClientCapabilities, type JSONRPCMessage, type ListChangedHandlers, type PriorDiscovery, type Transport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

/** The launcher that starts a stdio upstream in its own process group (bin/own-process-group.js; the same path from src/ and dist/). */
const OWN_PROCESS_GROUP = fileURLToPath(new URL('../../bin/own-process-group.js', import.meta.url));

/** How to reach an MCP server: a command over stdio, or a Streamable HTTP URL. */
export type UpstreamSpec =
  | { readonly command: string; readonly args?: readonly string[]; readonly env?: Readonly<Record<string, string>>; readonly cwd?: string }
  | { readonly url: string; readonly headers?: Readonly<Record<string, string>> };

export interface ConnectUpstreamOptions {
  /** The client name the upstream sees. @default 'mcp-concurrency' */
  readonly name?: string;
  /** What this client offers the upstream (sampling, elicitation, roots): the proxy mirrors its own client's. @default {} */
  readonly capabilities?: ClientCapabilities;
  /**
   * How the protocol revision is chosen: `'legacy'` (the 2025 `initialize`, no probe), `'auto'` (probe with
   * `server/discover`, fall back to `initialize`), or a known verdict from an earlier probe (no round trip).
   * @default 'auto' for a URL, 'legacy' for a command (a probe would spawn a second process)
   */
  readonly era?: 'legacy' | 'auto' | PriorDiscovery;
  /** Called with the client before it connects: the place to set request and notification handlers. */
  readonly beforeConnect?: (client: Client) => void;
  /**
   * Streamable HTTP only: called when a request is POSTed (in the async context of the code that made the
   * request); the function it returns, if any, sees each JSON-RPC request and notification that comes on
   * that request's own response stream (SSE), before the client handles it. How a message is tied to the
   * request it came with, which the SDK client does not tell its handlers. Ignored for a command upstream.
   * @default undefined (response streams are not read)
   */
  readonly onResponseStream?: () => ((message: { method: string; id?: string | number; params?: Record<string, unknown> }) => void) | undefined;
  /**
   * Told when the upstream's tools, prompts or resources change: unsolicited `list_changed` notifications on a
   * 2025-revision connection, a `subscriptions/listen` stream the client opens on a 2026-07-28 one (the SDK
   * client's `listChanged` option). Only for what the upstream declares `listChanged` for. @default none
   */
  readonly listChanged?: ListChangedHandlers;
  /**
   * Streamable HTTP only: called (with why) when a request carrying the session id is answered HTTP 404
   * (the upstream forgot the session: it restarted, or expired it). @default undefined
   */
  readonly onSessionLost?: (why: string) => void;
}

/** Connects an SDK v2 `Client` to an upstream server; a failure is an `upstream_error` naming the server. */
export async function connectUpstream(spec: UpstreamSpec, options: ConnectUpstreamOptions | string = {}): Promise<Client> {
  const { name = 'mcp-concurrency', capabilities = {}, era = 'url' in spec ? 'auto' : 'legacy', beforeConnect, onResponseStream, listChanged, onSessionLost } = typeof options === 'string' ? { name: options } : options;
  const mode = era === 'auto' ? 'auto' : 'legacy';
  const client = new Client({ name, version: '0.1.0' }, { capabilities, versionNegotiation: { mode }, ...(listChanged === undefined ? {} : { listChanged }) });
  beforeConnect?.(client);
  const transport =
    'url' in spec
      ? new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: { ...spec.headers } }, fetch: watchingSession(observingStreams(fetchWithOwnSignals(), onResponseStream), onSessionLost) })
      : notificationsFirst(
          // Through own-process-group.js: the upstream outlives the terminal's Ctrl-C until the proxy closes it.
          new StdioClientTransport({
            command: process.execPath,
            args: [OWN_PROCESS_GROUP, spec.command, ...(spec.args ?? [])],
            cwd: spec.cwd,
            env: { ...(process.env as Record<string, string>), ...spec.env },
            stderr: 'inherit',
          }),
        );
  try {
    await client.connect(transport, typeof era === 'object' ? { prior: era } : undefined);
  } catch (error) {
    await client.close().catch(() => {});
    throw new McpConcurrencyError('upstream_error', `Cannot connect to the upstream MCP server (${describeUpstream(spec)}): ${describeThrown(error)}`, { cause: error });
  }
  return client;
}

/**
 * Makes `transport` hand its client a response only after the notifications read before it were handled.
 * The SDK client runs a notification handler a microtask after it reads the notification but settles a
 * response at once, so when a tool's last progress notification and its result arrive in one stdio read,
 * the progress finds its request gone and is dropped. Here a response that follows a notification waits
 * one turn of the event loop (`setImmediate`); messages keep their order. The transport itself (its class,
 * which the SDK's stdio probe recognises) is unchanged: only its `onmessage` is wrapped.
 */
function notificationsFirst<T extends Transport>(transport: T): T {
  let handler: Transport['onmessage'];
  const queue: [JSONRPCMessage, unknown][] = [];
  let waiting = false;
  let notified = false;
  const drain = (): void => {
    while (!waiting && queue.length > 0) {
      const [message, extra] = queue[0]!;
      const response = !('method' in message);
      if (response && notified) {
        notified = false;
        waiting = true;
        setImmediate(() => {
          waiting = false;
          drain();
        });
        return;
      }
      queue.shift();
      if (!response && !('id' in message)) notified = true;
      handler?.(message, extra as Parameters<NonNullable<Transport['onmessage']>>[1]);
    }
  };
  const deliver: NonNullable<Transport['onmessage']> = (message, extra) => {
    queue.push([message, extra]);
    drain();
  };
  Object.defineProperty(transport, 'onmessage', {
    configurable: true,
    enumerable: true,
    get: () => (handler === undefined ? undefined : deliver),
    set: (next: Transport['onmessage']) => {
      handler = next;
    },
  });
  return transport;
}

type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * `fetch` that tells `lost` when the upstream answers HTTP 404 to a request carrying its session id (it
 * forgot the session). Only the status is looked at: the body goes on untouched. (A response stream that
 * breaks is heard from the SDK client: see `UpstreamSession`.)
 */
function watchingSession(inner: Fetch, lost: ((why: string) => void) | undefined): Fetch {
  if (lost === undefined) return inner;
  return async (input, init) => {
    const response = await inner(input, init);
    if (response.status === 404 && new Headers(init?.headers).has('mcp-session-id')) lost('the upstream answered HTTP 404 for its session (it restarted or expired the session)');
    return response;
  };
}

/**
 * `fetch` that hands the requests and notifications of each SSE response stream to the sink `observe`
 * gives for that request (see `ConnectUpstreamOptions.onResponseStream`); the bytes go on unchanged.
 * Only `data:` lines that mention `"method"` are parsed (results are not).
 */
function observingStreams(inner: Fetch, observe: ConnectUpstreamOptions['onResponseStream']): Fetch {
  if (observe === undefined) return inner;
  return async (input, init) => {
    const sink = init?.method === 'POST' ? observe() : undefined;
    const response = await inner(input, init);
    if (sink === undefined || response.body === null || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) return response;
    const decoder = new TextDecoder();
    let pending = '';
    const events = (text: string): void => {
      pending += text.replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
          .join('\n');
        if (!data.includes('"method"')) continue;
        try {
          const message = JSON.parse(data) as unknown;
          if (typeof message === 'object' && message !== null && typeof (message as { method?: unknown }).method === 'string') sink(message as Parameters<typeof sink>[0]);
        } catch {
          // Not JSON: the SDK client reports it.
        }
      }
    };
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          events(decoder.decode(chunk, { stream: true }));
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** The verdict to hand later connections to the same upstream so that they skip the probe. */
export function priorOf(client: Client): PriorDiscovery {
  const discover = client.getDiscoverResult();
  return discover === undefined ? { kind: 'legacy' } : { kind: 'modern', discover };
}

/** `search_*`, `*`, `db.?` globs to a RegExp. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/**
 * A `fetch` for one transport that gives each request its own abort signal when the signal it is given is
 * one it saw before, linked to it until the response has been read. The SDK's Streamable HTTP client passes
 * its transport-wide signal to every 2025-revision request (a 2026-07-28 request gets one of its own), and
 * undici keeps an abort listener on a request's signal until the request is garbage-collected, and counts
 * that signal's listeners on every new request: on a long-lived upstream session the list grows with the
 * calls made, and so does each call's cost. Here the long-lived signal holds one listener per request in
 * flight, removed when its body has been read to the end or the request failed (a body cancelled half-way
 * keeps its listener until the transport closes). Aborting the given signal still aborts the request.
 */
export function fetchWithOwnSignals(): (input: string | URL, init?: RequestInit) => Promise<Response> {
  let seen: AbortSignal | undefined;
  return (input, init) => {
    const outer = init?.signal ?? undefined;
    if (outer === undefined || outer.aborted || outer !== seen) {
      seen = outer;
      return fetch(input, init);
    }
    const own = new AbortController();
    const forward = (): void => own.abort(outer.reason);
    outer.addEventListener('abort', forward, { once: true });
    const release = (): void => outer.removeEventListener('abort', forward);
    return fetch(input, { ...init, signal: own.signal }).then(
      (response) => {
        // Redirects and errors go back untouched (the SDK reads their url, type and status); they are short.
        if (!response.ok || response.body === null) {
          release();
          return response;
        }
        // A result's body (an SSE stream, often) is read later: unlinked when it has been read to its end.
        const body = response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: release }));
        return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
      },
      (error: unknown) => {
        release();
        throw error;
      },
    );
  };
}

/**
 * An upstream as a message names it: its URL's origin and path, or its command and, when it is not an option, its first
 * argument (the script, usually). Other arguments are left out: they may carry secrets.
 */
function describeUpstream(spec: UpstreamSpec): string {
  if ('url' in spec) {
    // Origin and path only: credentials in the userinfo or the query stay out of messages.
    try {
      const url = new URL(spec.url);
      return `${url.origin}${url.pathname}`;
    } catch {
      return '(an invalid URL)';
    }
  }
  const first = spec.args?.[0];
  return first === undefined || first.startsWith('-') ? spec.command : `${spec.command} ${first}`;
}
