/**
 * Node's `http` request and response to and from the web-standard `Request` / `Response` the SDK's
 * Streamable HTTP handlers take, for a body already read and parsed (serve.ts reads it under its size
 * limit before anything else).
 *
 * The SDK's own adapter (`toNodeHandler` in `@modelcontextprotocol/node`) serializes a parsed body back
 * to a string, measures it with a `TextEncoder` and wraps it in a body stream, although the handlers,
 * given `parsedBody`, never read the request's body: on a no-op tool call that is about a twentieth of
 * the server's CPU time per request. This one hands the parsed body over and gives the `Request` none.
 * What the SDK's adapter guarantees is kept: the request's `signal` aborts when the client goes away
 * before the answer is written (that is how the SDK hears a 2026-07-28 cancellation), and streamed
 * (SSE) answers honour write backpressure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A web-standard MCP handler: the shape of `createMcpHandler()` and of the SDK's transports behind a router. */
export interface FetchHandler {
  fetch(request: Request, options?: { readonly parsedBody?: unknown }): Promise<Response>;
}

/** Request headers the body-less `Request` must not carry: they describe the body already read. */
const BODY_HEADERS = new Set(['content-length', 'content-encoding', 'transfer-encoding']);

/**
 * Calls `handler` for `req` and writes its `Response` to `res`. `parsedBody` is the request's JSON, already
 * read (`undefined` for a GET or DELETE, which have none). Rejects only when `handler.fetch` throws before
 * answering (the caller answers 500); a client that goes away mid-answer ends the write quietly.
 */
export async function callFetchHandler(handler: FetchHandler, req: IncomingMessage, res: ServerResponse, parsedBody: unknown): Promise<void> {
  const abort = new AbortController();
  let finished = false;
  const onClose = (): void => {
    if (!finished) abort.abort();
  };
  res.once('close', onClose);
  if (res.destroyed) abort.abort();
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* ':' */ || BODY_HEADERS.has(name.toLowerCase())) continue;
    headers.append(name, raw[i + 1]!);
  }
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, signal: abort.signal });
  const response = await handler.fetch(request, parsedBody === undefined ? undefined : { parsedBody });
  const head: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    head[name] = value;
  });
  res.writeHead(response.status, head);
  const body = response.body;
  if (body === null) {
    finished = true;
    res.end();
    return;
  }
  // A GET's stream (the session's notifications) may not send its first event for a long while: its headers
  // go out now. (A POST's answer follows at once, in the same write as its headers.)
  if (req.method === 'GET') res.flushHeaders();
  await writeBody(body, res, abort.signal);
  finished = true;
  res.end();
}

/** Copies a response body to `res` until it ends or the client goes away (then the body is cancelled). */
async function writeBody(body: ReadableStream<Uint8Array>, res: ServerResponse, gone: AbortSignal): Promise<void> {
  const reader = body.getReader();
  const cancel = (): void => void reader.cancel().catch(() => {});
  if (gone.aborted) return cancel();
  gone.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone.aborted) break;
      if (!res.write(value)) await drained(res, gone);
    }
  } catch {
    // The body errored or was cancelled: what was written stands, the response ends.
  } finally {
    gone.removeEventListener('abort', cancel);
  }
}

/** Resolves on the response's next 'drain', or when the client goes away. */
function drained(res: ServerResponse, gone: AbortSignal): Promise<void> {
  if (gone.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      gone.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    gone.addEventListener('abort', done, { once: true });
  });
}
