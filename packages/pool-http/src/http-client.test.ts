import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Agent } from 'undici';
import { HttpClient } from './http-client.js';
import { startMockServer, type MockServer } from './testing/mock-server.js';

let server: MockServer;
beforeAll(async () => {
  server = await startMockServer();
});
afterAll(async () => {
  await server.close();
});

const local = (): HttpClient => new HttpClient({ allowPrivateNetwork: true });

describe('HttpClient: one attempt, facts on the error', () => {
  it.each([
    ['GET 503 with Retry-After seconds', 'GET', '/status/503?retry-after=2', { code: 'http_error', retryable: true, retryAfterMs: 2_000 }],
    ['GET 429 with Retry-After seconds', 'GET', '/status/429?retry-after=1', { code: 'http_error', retryable: true, retryAfterMs: 1_000 }],
    ['POST 503: not idempotent, never retryable', 'POST', '/status/503?retry-after=2', { code: 'http_error', retryable: false, retryAfterMs: 2_000 }],
    ['GET 500: not retryable', 'GET', '/status/500', { code: 'http_error', retryable: false, retryAfterMs: undefined }],
    ['GET reset: retryable', 'GET', '/reset', { code: 'http_error', retryable: true }],
  ])('%s', async (_, method, path, expected) => {
    const client = local();
    server.reset();
    await expect(client.request({ url: `${server.origin}${path}`, method })).rejects.toMatchObject(expected);
    expect(server.requests).toHaveLength(1);
    await client.close();
  });

  it('keeps the query string (it may hold a key) out of error messages', async () => {
    const client = local();
    await expect(client.request(`${server.origin}/status/500?api_key=sekret`)).rejects.toMatchObject({ message: expect.not.stringContaining('sekret') });
    await client.close();
  });
});

describe('HttpClient: the start of an error body is in the message', () => {
  it('quotes a textual body (one line, at most 300 characters), never a binary one, and keeps working after a big one', async () => {
    const bodies: Record<string, [number, string, string | Buffer]> = {
      '/missing': [404, 'text/plain', 'no item A-1\n'],
      '/problem': [400, 'application/problem+json', '{"detail":"sku must be A-100, A-200 or B-300"}'],
      '/binary': [500, 'image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2])],
      '/big': [500, 'text/html', 'x'.repeat(1024 * 1024)],
      '/control': [502, 'text/plain', 'bad\u0000gateway\r\n\tupstream  down\u001b[31m'],
    };
    const http = await import('node:http');
    const errorServer = http.createServer((req, res) => {
      const [status, type, body] = bodies[req.url ?? ''] ?? [200, 'text/plain', 'ok'];
      res.writeHead(status, { 'content-type': type }).end(body);
    });
    await new Promise<void>((resolve) => errorServer.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(errorServer.address() as { port: number }).port}`;
    const client = local();
    try {
      const message = (path: string): Promise<string> => client.request(`${origin}${path}`).then(() => 'resolved', (e: Error) => e.message);
      expect(await message('/missing')).toBe(`GET ${origin}/missing answered HTTP 404: no item A-1`);
      expect(await message('/problem')).toContain('answered HTTP 400: {"detail":"sku must be A-100, A-200 or B-300"}');
      expect(await message('/binary')).toBe(`GET ${origin}/binary answered HTTP 500`);
      const big = await message('/big');
      expect(big).toBe(`GET ${origin}/big answered HTTP 500: ${'x'.repeat(300)}…`);
      expect(await message('/control')).toBe(`GET ${origin}/control answered HTTP 502: bad gateway upstream down [31m`);
      expect((await client.request(`${origin}/fine`)).body).toBe('ok');
    } finally {
      await client.close();
      await new Promise((resolve) => errorServer.close(resolve));
    }
  });
});

describe('HttpClient: a quoted error body never gives back what the request carried', () => {
  it('redacts the query, its values and header values the server echoes; drops bidi and zero-width characters; never cuts a surrogate pair', async () => {
    const http = await import('node:http');
    const echo = http.createServer((req, res) => {
      if (req.url === '/emoji') return void res.writeHead(500, { 'content-type': 'text/plain' }).end(`${'x'.repeat(299)}😀 tail`);
      if (req.url === '/invisible') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('ok\u009b31m \u202eevil\u202c \u2066x\u2069 z\u200bw');
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ request: req.url, auth: req.headers.authorization, key: req.headers['x-api-key'] }));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(echo.address() as { port: number }).port}`;
    const client = local();
    const message = (request: Parameters<HttpClient['request']>[0]): Promise<string> => client.request(request).then(() => 'resolved', (e: Error) => e.message);
    try {
      const leaked = await message({ url: `${origin}/items?api_key=SECRET123&page=2`, headers: { authorization: 'Bearer TOKSECRET', 'x-api-key': 'KEYSECRET' } });
      expect(leaked).toMatch(/answered HTTP 401: /);
      for (const secret of ['SECRET123', 'TOKSECRET', 'KEYSECRET']) expect(leaked).not.toContain(secret);
      expect(leaked).toContain('[redacted]');
      expect(await message(`${origin}/invisible`)).toBe(`GET ${origin}/invisible answered HTTP 500: ok 31m evil x z w`);
      const emoji = await message(`${origin}/emoji`);
      expect(emoji.endsWith(`${'x'.repeat(299)}…`)).toBe(true);
    } finally {
      await client.close();
      await new Promise((resolve) => echo.close(resolve));
    }
  });
});

describe('HttpClient injectHeaders', () => {
  it('adds headers (trace context) to each request as it is prepared, over the request\'s own; a throwing hook fails nothing', async () => {
    let n = 0;
    const traceparent = (i: number): string => `00-${'a'.repeat(32)}-${String(i).padStart(16, '0')}-01`;
    const client = new HttpClient({ allowPrivateNetwork: true, injectHeaders: (headers) => void (headers.traceparent = traceparent(++n)) });
    const seen = (r: { body: unknown }): Record<string, string> => (r.body as { headers: Record<string, string> }).headers;
    const a = await client.request(`${server.origin}/echo`);
    const b = await client.request({ url: `${server.origin}/echo`, headers: { 'x-own': '1' } });
    expect([seen(a).traceparent, seen(b).traceparent]).toEqual([traceparent(1), traceparent(2)]);
    expect(seen(b)['x-own']).toBe('1');
    expect(client.prepare(`${server.origin}/echo`).headers.traceparent).toBe(traceparent(3));
    await client.close();
    const throwing = new HttpClient({ allowPrivateNetwork: true, injectHeaders: () => { throw new Error('tracer bug'); } });
    expect((await throwing.request(`${server.origin}/echo`)).status).toBe(200);
    await throwing.close();
    expect(() => new HttpClient({ injectHeaders: 'x' as never })).toThrow(/`injectHeaders`/);
  });
});

describe('HttpClient lifecycle', () => {
  it('close() lets in-flight requests finish, then refuses new ones with `closed`', async () => {
    const client = local();
    server.reset();
    const pending = client.request(`${server.origin}/latency/100`);
    await vi.waitFor(() => expect(server.inFlight).toBe(1));
    const closing = client.close();
    await expect(client.request(server.url)).rejects.toMatchObject({ code: 'closed' });
    expect((await pending).status).toBe(200);
    await closing;
    expect(client.close()).toBe(closing);
  });

  it('close({ graceMs }) destroys what is still running when the grace ends; the server sees the abort', async () => {
    const client = local();
    server.reset();
    const pending = client.request(`${server.origin}/latency/5000`);
    await vi.waitFor(() => expect(server.inFlight).toBe(1));
    const outcome = pending.catch((error: unknown) => error);
    await client.close({ graceMs: 20 });
    expect(await outcome).toMatchObject({ code: 'closed' });
    await vi.waitFor(() => expect(server.requests[0]!.aborted).toBe(true));
  });

  it('close({ signal }) destroys at once when the signal aborts; destroy() is idempotent', async () => {
    const client = local();
    server.reset();
    const pending = client.request(`${server.origin}/latency/5000`);
    await vi.waitFor(() => expect(server.inFlight).toBe(1));
    const outcome = pending.catch((error: unknown) => error);
    const controller = new AbortController();
    const closing = client.close({ signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await closing;
    expect(await outcome).toMatchObject({ code: 'closed' });
    expect(client.destroy()).toBe(client.destroy());
    await client.destroy();
  });

  it('with a dispatcher of yours: destroy() aborts its requests (`closed`) and leaves the dispatcher open', async () => {
    const agent = new Agent();
    const client = new HttpClient({ allowPrivateNetwork: true, dispatcher: agent });
    server.reset();
    const pending = client.request(`${server.origin}/latency/5000`).catch((error: unknown) => error);
    await vi.waitFor(() => expect(server.inFlight).toBe(1));
    await client.destroy(new Error('now'));
    expect(await pending).toMatchObject({ code: 'closed' });
    await vi.waitFor(() => expect(server.requests[0]!.aborted).toBe(true));
    expect(agent.closed).toBe(false);
    expect((await new HttpClient({ allowPrivateNetwork: true, dispatcher: agent }).request(server.url)).status).toBe(200);
    await agent.close();
  });

  it('a caller\'s abort cancels the request on its socket', async () => {
    const client = local();
    server.reset();
    const controller = new AbortController();
    const pending = client.request(`${server.origin}/latency/5000`, { signal: controller.signal });
    await vi.waitFor(() => expect(server.inFlight).toBe(1));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
    await vi.waitFor(() => expect(server.requests[0]!.aborted).toBe(true));
    await client.destroy();
  });
});
