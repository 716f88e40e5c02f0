import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** A tiny standalone `/metrics` server. Resolves once listening; `close()` it when done. */
export async function startMetricsServer(registry: Registry, options: MetricsServerOptions = {}): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const server = createServer(metricsHandler(registry));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
