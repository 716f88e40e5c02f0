import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { McpProxy } from '../proxy/proxy.js';
import { ToolRuntime } from '../runtime.js';
import { createMcpServer } from './mcp-server.js';
import { serveHttp, type Serving } from './serve.js';

// The Streamable HTTP front's own rules, beside the SDK's: what a refused request leaves behind, CORS for an
// allowed browser origin, request encodings and deadlines, and what counts as a session's activity.
const UPSTREAM = fileURLToPath(new URL('../../test/fixtures/upstream.mjs', import.meta.url));
const JSON_SSE = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const initialize = JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

async function served(options: Parameters<typeof serveHttp>[1] = {}): Promise<Serving> {
  const runtime = await ToolRuntime.create(parseConfig('name: front\ntools: []\n', 'front.yaml', {}));
  cleanup.push(() => runtime.close());
  const serving = await serveHttp(() => createMcpServer(runtime), options);
  cleanup.push(() => serving.close({ graceMs: 0 }));
  return serving;
}

describe('the HTTP front', () => {
  it('an initialize the transport refuses (415, 406) leaves no session behind, not even a proxy\'s upstream session', async () => {
    const runtime = await ToolRuntime.create(parseConfig('name: refused\ntools: []\n', 'refused.yaml', {}));
    const proxy = await McpProxy.connect(runtime, { upstream: { command: process.execPath, args: [UPSTREAM] } });
    cleanup.push(() => proxy.close({ graceMs: 0 }));
    const serving = await serveHttp(proxy.factory);
    cleanup.push(() => serving.close({ graceMs: 0 }));
    for (let i = 0; i < 10; i++) {
      expect((await fetch(serving.url, { method: 'POST', headers: { ...JSON_SSE, 'content-type': 'text/plain' }, body: initialize })).status).toBe(415);
      expect((await fetch(serving.url, { method: 'POST', headers: { ...JSON_SSE, accept: 'application/json' }, body: initialize })).status).toBe(406);
    }
    await expect.poll(() => proxy.sessions).toBe(0);
    expect(serving.sessions).toBe(0);
  });

  it('CORS for an allowed origin: a preflight is answered, answers carry the origin and expose the session headers; another origin is refused', async () => {
    const serving = await served({ allowedOrigins: ['http://app.example'] });
    const preflight = await fetch(serving.url, { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, mcp-session-id' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type, mcp-session-id');
    const answer = await fetch(serving.url, { method: 'POST', headers: { ...JSON_SSE, origin: 'http://app.example' }, body: initialize });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(answer.headers.get('access-control-expose-headers')).toContain('mcp-session-id');
    expect(answer.headers.get('mcp-session-id')).not.toBeNull();
    await answer.text();
    const other = await fetch(serving.url, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a compressed body is refused with 415 (it is never decompressed)', async () => {
    const serving = await served();
    const res = await fetch(serving.url, { method: 'POST', headers: { ...JSON_SSE, 'content-encoding': 'gzip' }, body: initialize });
    expect(res.status).toBe(415);
    expect(await res.text()).toContain('Content-Encoding');
  });

  it('a body that trickles in is cut off at requestTimeoutMs', async () => {
    const serving = await served({ requestTimeoutMs: 300 });
    const { hostname, port } = new URL(serving.url);
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(`POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{"jsonrpc"`);
        const trickle = setInterval(() => socket.write(' '), 100);
        let got = '';
        socket.on('data', (d: Buffer) => (got += d.toString()));
        socket.on('close', () => {
          clearInterval(trickle);
          resolve(got);
        });
        socket.on('error', () => {});
      });
    });
    // Node answers 408 (or just closes) once the request has taken longer than allowed.
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('close() while a body is still arriving: that request is answered 503 (retry elsewhere), never a closed socket', async () => {
    const serving = await served();
    const { hostname, port } = new URL(serving.url);
    const body = initialize;
    let closing: Promise<void> | undefined;
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(`POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`);
        // The server has the headers: shut it down, then let the rest of the body arrive.
        setTimeout(() => {
          closing = serving.close({ graceMs: 5_000 });
          setTimeout(() => socket.write(body.slice(10)), 50);
        }, 100);
        let got = '';
        socket.on('data', (d: Buffer) => (got += d.toString()));
        socket.on('close', () => resolve(got));
        socket.on('error', () => {});
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer.toLowerCase()).toContain('retry-after: 1');
    await closing;
  });

  it('a body still arriving when the grace period ends: answered 503, not a closed socket', async () => {
    const serving = await served();
    const { hostname, port } = new URL(serving.url);
    let closing: Promise<void> | undefined;
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(`POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(initialize)}\r\n\r\n${initialize.slice(0, 10)}`);
        setTimeout(() => (closing = serving.close({ graceMs: 100 })), 100);
        let got = '';
        socket.on('data', (d: Buffer) => (got += d.toString()));
        socket.on('close', () => resolve(got));
        socket.on('error', () => {});
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    await closing;
  });

  it('a session whose client only listens (an open GET stream) is not idle', async () => {
    const serving = await served({ sessionIdleMs: 200 });
    const opened = await fetch(serving.url, { method: 'POST', headers: JSON_SSE, body: initialize });
    const id = opened.headers.get('mcp-session-id')!;
    await opened.text();
    const session = { ...JSON_SSE, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
    await (await fetch(serving.url, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text();
    const controller = new AbortController();
    const stream = await fetch(serving.url, { method: 'GET', headers: { ...session, accept: 'text/event-stream' }, signal: controller.signal });
    expect(stream.status).toBe(200);
    // Several idle periods (the sweep runs every 50 ms): still there while the stream is open.
    await new Promise((r) => setTimeout(r, 800));
    expect(serving.sessions).toBe(1);
    controller.abort();
    // Then idle from the stream's end on: expired.
    await expect.poll(() => serving.sessions, { timeout: 5_000 }).toBe(0);
  });
});
