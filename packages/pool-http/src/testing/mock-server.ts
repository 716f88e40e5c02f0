import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface MockServerOptions {
  /** Latency before the response headers, in ms: fixed, or [min, max] uniformly random. @default 0 */
  readonly latencyMs?: number | readonly [number, number];
  /** A server-side token bucket: over it, 429 with `Retry-After` (seconds, rounded up). */
  readonly rateLimit?: { readonly rate: number; readonly burst: number };
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
}

/** What the server saw of one request: its own record, the judge of concurrency and rate. */
export interface MockRequestRecord {
  readonly method: string;
  readonly path: string;
  /** Epoch ms with sub-ms precision (`performance.timeOrigin + performance.now()`), comparable across processes. */
  readonly arrivedAt: number;
  finishedAt: number | undefined;
  /** The client went away before the response was complete. */
  aborted: boolean;
  status: number | undefined;
}

export interface MockServer {
  readonly url: string;
  readonly origin: string;
  readonly requests: MockRequestRecord[];
  /** Requests in progress now, and the most at once so far. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** TCP connections open now, and accepted in total. */
  readonly openConnections: number;
  readonly connectionsAccepted: number;
  /** Forget the record (not the rate-limit state). */
  reset(): void;
  close(): Promise<void>;
}

/**
 * A real `node:http` server on loopback for tests and the harness. Behaviour by path:
 * - `/` and anything else: 200 JSON `{ ok: true, path }` after the server's latency
 * - `/latency/:ms`: that latency instead
 * - `/status/:code[?retry-after=s]`: that status (with `Retry-After`)
 * - `/flaky/:n`: 503 with `Retry-After: 0` for the first n requests to this exact path, then 200
 * - `/reset`: the connection is destroyed before any response
 * - `/bytes/:n`: n bytes of text/plain; `/json-bytes/:n`: a JSON string of about n bytes
 * - `/endless`: a body that never ends (until the client goes away)
 * - `/slow-body/:ms`: headers at once, then one chunk every ms, ten chunks
 * - `/echo`: 200 JSON with the method, headers and body it received
 */
export async function startMockServer(options: MockServerOptions = {}): Promise<MockServer> {
  const requests: MockRequestRecord[] = [];
  const flaky = new Map<string, number>();
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  let accepted = 0;
  const bucket = options.rateLimit === undefined ? undefined : { ...options.rateLimit, tokens: options.rateLimit.burst, last: performance.now() };

  const latency = (): number => {
    const l = options.latencyMs ?? 0;
    return typeof l === 'number' ? l : l[0] + Math.random() * (l[1] - l[0]);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://mock');
    const [, kind = '', arg = ''] = url.pathname.split('/');
    if (bucket !== undefined) {
      const now = performance.now();
      bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.last) * bucket.rate) / 1000);
      bucket.last = now;
      if (bucket.tokens < 1) {
        const retryAfter = Math.ceil((1 - bucket.tokens) / bucket.rate);
        return send(res, 429, { error: 'rate limited' }, { 'retry-after': String(retryAfter) });
      }
      bucket.tokens -= 1;
    }
    if (kind === 'reset') {
      req.socket.destroy();
      return;
    }
    await sleep(kind === 'latency' ? Number(arg) : latency(), res);
    if (res.destroyed) return;
    switch (kind) {
      case 'status': {
        const retryAfter = url.searchParams.get('retry-after');
        return send(res, Number(arg), { status: Number(arg) }, retryAfter === null ? {} : { 'retry-after': retryAfter });
      }
      case 'flaky': {
        const seen = (flaky.get(url.pathname) ?? 0) + 1;
        flaky.set(url.pathname, seen);
        return seen <= Number(arg) ? send(res, 503, { attempt: seen }, { 'retry-after': '0' }) : send(res, 200, { attempt: seen });
      }
      case 'bytes':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Number(arg)) });
        res.end('x'.repeat(Number(arg)));
        return;
      case 'json-bytes':
        return send(res, 200, 'x'.repeat(Math.max(0, Number(arg) - 2)));
      case 'endless': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('x'.repeat(16 * 1024)), 1);
        res.once('close', () => clearInterval(timer));
        return;
      }
      case 'slow-body': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        for (let i = 0; i < 10 && !res.destroyed; i++) {
          res.write(`chunk ${i}\n`);
          await sleep(Number(arg), res);
        }
        res.end();
        return;
      }
      case 'echo': {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        return send(res, 200, { method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      }
      default:
        return send(res, 200, { ok: true, path: url.pathname });
    }
  };

  const server: Server = createServer((req, res) => {
    const record: MockRequestRecord = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      arrivedAt: performance.timeOrigin + performance.now(),
      finishedAt: undefined,
      aborted: false,
      status: undefined,
    };
    requests.push(record);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let done = false;
    const finish = (aborted: boolean): void => {
      if (done) return;
      done = true;
      inFlight--;
      record.finishedAt = performance.timeOrigin + performance.now();
      record.aborted = aborted;
      record.status = aborted ? undefined : res.statusCode;
    };
    res.once('finish', () => finish(false));
    res.once('close', () => finish(!res.writableFinished));
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const origin = `http://${host}:${port}`;
  return {
    url: `${origin}/`,
    origin,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get openConnections() {
      return sockets.size;
    },
    get connectionsAccepted() {
      return accepted;
    },
    reset() {
      requests.length = 0;
      maxInFlight = inFlight;
      flaky.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** Resolves after `ms`, or early when the client goes away. */
function sleep(ms: number, res: ServerResponse): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    res.once('close', done);
    function done(): void {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
  });
}
