import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { callFetchHandler, type FetchHandler } from './node-adapter.js';

/** A node:http server on loopback whose every request goes through `callFetchHandler(handler)` with `body` as the parsed body. */
async function listen(handler: FetchHandler, parsedBody?: unknown): Promise<{ url: string; server: Server; failures: unknown[] }> {
  const failures: unknown[] = [];
  const server = createServer((req, res) => {
    // The body is read (and dropped) first, as serve.ts does before routing.
    req.resume();
    req.once('end', () => void callFetchHandler(handler, req, res, parsedBody).catch((error: unknown) => failures.push(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp?x=1`, server, failures };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
});

describe('callFetchHandler', () => {
  it('hands the parsed body over and gives the Request none: no body headers, the URL, method and other headers kept', async () => {
    let seen: { request: Request; parsedBody: unknown } | undefined;
    const handler: FetchHandler = {
      fetch: async (request, options) => {
        seen = { request, parsedBody: options?.parsedBody };
        return new Response(JSON.stringify({ ok: true }), { status: 202, headers: { 'content-type': 'application/json', 'x-answer': 'yes' } });
      },
    };
    const { url, server } = await listen(handler, { jsonrpc: '2.0', id: 7, method: 'ping' });
    servers.push(server);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'mcp-session-id': 'abc' }, body: '{"jsonrpc":"2.0","id":7,"method":"ping"}' });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-answer')).toBe('yes');
    expect(await res.json()).toEqual({ ok: true });
    expect(seen!.parsedBody).toEqual({ jsonrpc: '2.0', id: 7, method: 'ping' });
    expect(seen!.request.method).toBe('POST');
    expect(new URL(seen!.request.url).pathname + new URL(seen!.request.url).search).toBe('/mcp?x=1');
    expect(seen!.request.headers.get('mcp-session-id')).toBe('abc');
    expect(seen!.request.headers.get('content-type')).toBe('application/json');
    expect(seen!.request.headers.get('content-length')).toBeNull();
    expect(seen!.request.body).toBeNull();
  });

  it('a GET gets no parsedBody option', async () => {
    let options: unknown = 'unset';
    const { url, server } = await listen({ fetch: async (_request, o) => ((options = o), new Response(null, { status: 405 })) });
    servers.push(server);
    expect((await fetch(url)).status).toBe(405);
    expect(options).toBeUndefined();
  });

  it('a client that goes away mid-stream aborts the request signal and cancels the response body', async () => {
    let aborted!: () => void;
    const signalAborted = new Promise<void>((resolve) => (aborted = resolve));
    let cancelled!: () => void;
    const bodyCancelled = new Promise<void>((resolve) => (cancelled = resolve));
    const handler: FetchHandler = {
      fetch: async (request) => {
        request.signal.addEventListener('abort', () => aborted(), { once: true });
        const body = new ReadableStream<Uint8Array>({
          start: (controller) => controller.enqueue(new TextEncoder().encode('event: message\ndata: {}\n\n')),
          cancel: () => cancelled(),
        });
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      },
    };
    const { url, server, failures } = await listen(handler, {});
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        // The first event arrived: the answer is streaming. The client leaves.
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.once('error', (error) => (error.message.includes('socket hang up') || error.message.includes('aborted') ? undefined : reject(error)));
      req.end('{}');
    });
    await Promise.all([signalAborted, bodyCancelled]);
    expect(failures).toEqual([]);
  });

  it('writes a large streamed body whole, waiting for drain (backpressure)', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(97);
    const chunks = 64; // 4 MiB: well past the socket's buffer
    const handler: FetchHandler = {
      fetch: async () => {
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull: (controller) => {
            if (sent++ < chunks) controller.enqueue(chunk);
            else controller.close();
          },
        });
        return new Response(body);
      },
    };
    const { url, server } = await listen(handler);
    servers.push(server);
    const res = await fetch(url);
    expect((await res.arrayBuffer()).byteLength).toBe(chunk.length * chunks);
  });

  it('rejects when the handler throws before answering, and writes nothing (the caller answers)', async () => {
    const { url, server, failures } = await listen({
      fetch: async () => {
        throw new Error('handler broke');
      },
    });
    servers.push(server);
    const answered = fetch(url, { signal: AbortSignal.timeout(2_000) }).catch((error: unknown) => error);
    await expect.poll(() => failures.length).toBe(1);
    expect((failures[0] as Error).message).toBe('handler broke');
    server.closeAllConnections();
    await answered;
  });
});
