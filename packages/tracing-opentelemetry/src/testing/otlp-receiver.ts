import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One OTLP/HTTP export request as received. */
export interface ReceivedExport {
  readonly path: string;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** A span of an OTLP/JSON export, with ids as the JSON encoding gives them (hex strings). */
export interface ReceivedSpan {
  readonly service: string;
  readonly name: string;
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly status?: { readonly code?: number; readonly message?: string };
}

/** A histogram data point of an OTLP/JSON metrics export (`/v1/metrics`). */
export interface ReceivedHistogramPoint {
  readonly service: string;
  readonly name: string;
  readonly unit: string;
  readonly count: number;
  readonly sum: number;
  readonly explicitBounds: readonly number[];
  readonly attributes: Readonly<Record<string, unknown>>;
}

interface OtlpMetricsJson {
  resourceMetrics?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeMetrics?: {
      metrics?: {
        name: string;
        unit?: string;
        histogram?: { dataPoints?: { count?: string | number; sum?: number; explicitBounds?: number[]; attributes?: { key: string; value: OtlpValue }[] }[] };
      }[];
    }[];
  }[];
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpJson {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: { spans?: (Omit<ReceivedSpan, 'service' | 'attributes'> & { attributes?: { key: string; value: OtlpValue }[] })[] }[];
  }[];
}

const plain = (v: OtlpValue): unknown => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue));

/**
 * A minimal OTLP/HTTP receiver on 127.0.0.1 (port 0) for tests: it records every POST and answers
 * 200 with an empty body, as the OTLP specification's success response. Bounded: at most 1000 bodies of 4 MiB.
 */
export async function startOtlpReceiver(): Promise<{
  url: string;
  received: ReceivedExport[];
  spans(): ReceivedSpan[];
  histograms(): ReceivedHistogramPoint[];
  close(): Promise<void>;
}> {
  const received: ReceivedExport[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 4 * 1024 * 1024) chunks.push(chunk);
    });
    req.on('end', () => {
      if (received.length < 1000) {
        received.push({ path: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''), headers: req.headers, body: Buffer.concat(chunks) });
      }
      res.writeHead(200, { 'content-type': String(req.headers['content-type'] ?? 'application/json') }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** The spans of the JSON exports received so far. */
    spans: () =>
      received
        .filter((r) => r.contentType.includes('json') && r.path.endsWith('/v1/traces'))
        .flatMap((r) => (JSON.parse(r.body.toString('utf8')) as OtlpJson).resourceSpans ?? [])
        .flatMap((rs) => {
          const service = plain(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value ?? {});
          return (rs.scopeSpans ?? []).flatMap((ss) =>
            (ss.spans ?? []).map((span) => ({
              ...span,
              service: String(service),
              attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, plain(a.value)])),
            })),
          );
        }),
    /** The histogram data points of the JSON metrics exports received so far. */
    histograms: () =>
      received
        .filter((r) => r.contentType.includes('json') && r.path.endsWith('/v1/metrics'))
        .flatMap((r) => (JSON.parse(r.body.toString('utf8')) as OtlpMetricsJson).resourceMetrics ?? [])
        .flatMap((rm) => {
          const service = String(plain(rm.resource?.attributes?.find((a) => a.key === 'service.name')?.value ?? {}));
          return (rm.scopeMetrics ?? []).flatMap((sm) =>
            (sm.metrics ?? []).flatMap((metric) =>
              (metric.histogram?.dataPoints ?? []).map((point) => ({
                service,
                name: metric.name,
                unit: metric.unit ?? '',
                count: Number(point.count ?? 0),
                sum: point.sum ?? 0,
                explicitBounds: point.explicitBounds ?? [],
                attributes: Object.fromEntries((point.attributes ?? []).map((a) => [a.key, plain(a.value)])),
              })),
            ),
          );
        }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
