import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloseOptions, Lifecycle } from '@mcp-concurrency/core-scheduler';
import { LifecycleState } from '@mcp-concurrency/core-scheduler/plugin';
import { openMetricsContentType, Registry, type RegistryContentType } from 'prom-client';

/**
 * A `node:http` handler for `GET /metrics` (any other path: 404). Answers in the OpenMetrics format
 * when the scraper asks for it in `Accept`, else in the Prometheus text format.
 */
export function metricsHandler(registry: Registry): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const openMetrics = (req.headers.accept ?? '').includes('application/openmetrics-text');
    const target = openMetrics ? openMetricsRegistry(registry) : registry;
    target.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': target.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`Could not collect metrics: ${String(error)}\n`);
      },
    );
  };
}

const openMetricsViews = new WeakMap<Registry, Registry<RegistryContentType>>();

function openMetricsRegistry(registry: Registry): Registry<RegistryContentType> {
  let view = openMetricsViews.get(registry);
  if (view === undefined) {
    // The same metric objects, rendered in OpenMetrics: merge() builds a registry over them without copying.
    view = Registry.merge([registry]) as Registry<RegistryContentType>;
    view.setContentType(openMetricsContentType);
    openMetricsViews.set(registry, view);
  }
  return view;
}

export interface MetricsServerOptions {
  /** @default '127.0.0.1' (loopback: say so to expose it) */
  readonly host?: string;
  /** @default 9464; 0 picks a free port */
  readonly port?: number;
}

/**
 * A running `/metrics` server with the project's `Lifecycle`: `close({ graceMs?, signal? })` stops
 * accepting connections and lets scrapes in flight finish (idle keep-alive connections are closed at
 * once); when `graceMs` elapses or `signal` aborts it does what `destroy()` does: closes every
 * connection now. Both are idempotent and return one promise; they may be called unbound.
 */
export interface MetricsServer extends Lifecycle {
  readonly server: Server;
  /** `http://host:port/metrics` */
  readonly url: string;
  readonly close: (options?: CloseOptions) => Promise<void>;
  readonly destroy: (reason?: unknown) => Promise<void>;
}

/** A tiny standalone `/metrics` server. Resolves once listening; `close()` it when done. */
export async function startMetricsServer(registry: Registry, options: MetricsServerOptions = {}): Promise<MetricsServer> {
  const server = createServer(metricsHandler(registry));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  // server.close() closes the connections idle at that moment only: a keep-alive connection whose scrape
  // was in flight would hold the close open until its timeout. Close each as soon as its answer is out.
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    res.once('finish', () => {
      if (stopped !== undefined) setImmediate(() => server.closeIdleConnections());
    });
  });
  const lifecycle = new LifecycleState({
    // Refuses new connections, closes idle ones, and calls back when the last one has ended.
    stop: () => void (stopped = new Promise<void>((resolve) => server.close(() => resolve()))),
    idle: () => stopped!,
    abort: () => {
      server.closeAllConnections();
      return stopped;
    },
  });
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    close: (closeOptions) => lifecycle.close(closeOptions),
    destroy: (reason) => lifecycle.destroy(reason),
  };
}
