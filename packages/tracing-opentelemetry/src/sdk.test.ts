import { Scheduler } from '@mcp-concurrency/core-scheduler';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { McpTracing } from './mcp.js';
import { metricsFromEnv, tracingFromEnv, type Metrics, type Tracing } from './sdk.js';
import { startOtlpReceiver } from './testing/otlp-receiver.js';
import { traceHeaders } from './propagation.js';

let tracing: Tracing | undefined;
let metrics: Metrics | undefined;
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
afterEach(async () => {
  await tracing?.close();
  await metrics?.close();
  await receiver?.close();
  tracing = metrics = receiver = undefined;
});

async function traceOneCall(env: Record<string, string>) {
  receiver = await startOtlpReceiver();
  tracing = await tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...env } });
  expect(tracing).toBeDefined();
  const observer = tracing!.observer();
  let headers: Record<string, string> = {};
  const scheduler = new Scheduler({ tools: [observer.wrap({ name: 'lookup', run: () => void (headers = traceHeaders()) })], observers: [observer] });
  expect((await scheduler.run({ tool: 'lookup' })).status).toBe('ok');
  await tracing!.close();
  return { headers, received: receiver.received };
}

describe('tracingFromEnv', () => {
  it('is off unless OTEL_TRACES_EXPORTER names an exporter', async () => {
    expect(await tracingFromEnv({ env: {} })).toBeUndefined();
    expect(await tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'none' } })).toBeUndefined();
    expect(await tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' } })).toBeUndefined();
  });

  it('exports OTLP/HTTP JSON to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces with the service name and headers, and registers W3C propagation', async () => {
    const { headers, received } = await traceOneCall({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'gateway',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=a%20b',
    });
    expect(received.map((r) => [r.path, r.contentType, r.headers['x-tenant']])).toEqual([['/v1/traces', 'application/json', 'a b']]);
    const spans = receiver!.spans();
    expect(spans).toMatchObject([{ service: 'gateway', name: 'execute_tool lookup', attributes: { 'gen_ai.tool.name': 'lookup', 'mcp_concurrency.call.status': 'ok' } }]);
    expect(headers.traceparent).toBe(`00-${spans[0]!.traceId}-${spans[0]!.spanId}-01`);
  });

  it('exports OTLP/HTTP protobuf by default', async () => {
    const { received } = await traceOneCall({});
    expect(received).toHaveLength(1);
    expect(received[0]!.contentType).toBe('application/x-protobuf');
    // Protobuf keeps strings as UTF-8 bytes: the span name is in the body.
    expect(received[0]!.body.includes('execute_tool lookup')).toBe(true);
  });

  it('honours the sampler variables', async () => {
    const { received, headers } = await traceOneCall({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    expect(received).toHaveLength(0);
    expect(headers.traceparent).toMatch(/-00$/);
  });

  it.each([
    [{ OTEL_TRACES_EXPORTER: 'jaeger' }, /`OTEL_TRACES_EXPORTER`.*`jaeger`/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /`OTEL_EXPORTER_OTLP_PROTOCOL`.*grpc is not supported/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' }, /`OTEL_EXPORTER_OTLP_ENDPOINT` to be an http\(s\) URL/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'sometimes' }, /`OTEL_TRACES_SAMPLER`/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, /`OTEL_TRACES_SAMPLER_ARG`/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'authorization' }, /`OTEL_EXPORTER_OTLP_HEADERS` to be key=value/],
  ])('refuses %j with config_error naming the variable', async (env, message) => {
    await expect(tracingFromEnv({ env })).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(message) });
  });

  it('never shows header values (they may be API keys) in messages or the description', async () => {
    await expect(tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'k=%zz-secret' } })).rejects.not.toThrow(/secret/);
    tracing = await tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20secret' } });
    expect(tracing!.description).toBe('otlp http/protobuf http://localhost:4318/v1/traces');
  });
});

describe('OTLP endpoints (they may carry credentials)', () => {
  it('appends /v1/traces to the base endpoint\'s path, keeping its query a query, and shows neither userinfo nor query values', async () => {
    receiver = await startOtlpReceiver();
    const base = receiver.url.replace('http://', 'http://user:SECRETPW@');
    tracing = await tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `${base}/collector/?api_key=SECRETQ&flag` } });
    expect(tracing!.description).toBe(`otlp http/protobuf ${receiver.url}/collector/v1/traces?api_key=[redacted]&[redacted]`);
    tracing!.tracer.startSpan('s').end();
    await tracing!.close();
    expect(receiver.received.map((r) => r.path)).toEqual(['/collector/v1/traces?api_key=SECRETQ&flag']);
  });

  it('uses OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as is, query included, and shows it without userinfo or query values', async () => {
    receiver = await startOtlpReceiver();
    metrics = await metricsFromEnv({
      env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url.replace('http://', 'http://u:SECRETPW@')}/m?token=SECRETQ#frag` },
    });
    expect(metrics!.description).toBe(`otlp http/protobuf ${receiver.url}/m?token=[redacted] every 60000 ms`);
    metrics!.meter.createHistogram('x').record(1);
    await metrics!.close();
    expect(receiver.received.map((r) => r.path)).toEqual(['/m?token=SECRETQ']);
  });

  it('shows OTEL_EXPORTER_OTLP_TRACES_ENDPOINT without its secrets', async () => {
    tracing = await tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://u:SECRETPW@[::1]:4318/t?token=SECRETQ' } });
    expect(tracing!.description).toBe('otlp http/protobuf https://[::1]:4318/t?token=[redacted]');
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'user:SECRETPW@127.0.0.1:4318'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'ftp://user:SECRETPW@127.0.0.1/?api_key=SECRETQ'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'not a url SECRETQ'],
  ])('refuses %s=%j naming the variable and the expected shape, not the value', async (variable, value) => {
    const refusal = tracingFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp', [variable]: value } });
    await expect(refusal).rejects.toMatchObject({ code: 'config_error', message: expect.stringContaining(`\`${variable}\` to be an http(s) URL such as http://localhost:4318`) });
    await expect(refusal).rejects.not.toThrow(/SECRET/);
    const metricsVariable = variable.replace('_TRACES_', '_METRICS_');
    const metricsRefusal = metricsFromEnv({ env: { OTEL_METRICS_EXPORTER: 'otlp', [metricsVariable]: value } });
    await expect(metricsRefusal).rejects.toMatchObject({ code: 'config_error', message: expect.stringContaining(`\`${metricsVariable}\``) });
    await expect(metricsRefusal).rejects.not.toThrow(/SECRET/);
  });
});

describe('metricsFromEnv', () => {
  it('is off unless OTEL_METRICS_EXPORTER names an exporter', async () => {
    expect(await metricsFromEnv({ env: {} })).toBeUndefined();
    expect(await metricsFromEnv({ env: { OTEL_METRICS_EXPORTER: 'none' } })).toBeUndefined();
    expect(await metricsFromEnv({ env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' } })).toBeUndefined();
    // Traces on does not turn metrics on, nor the reverse.
    expect(await metricsFromEnv({ env: { OTEL_TRACES_EXPORTER: 'otlp' } })).toBeUndefined();
  });

  it('exports the MCP duration histograms as OTLP/HTTP JSON to OTEL_EXPORTER_OTLP_ENDPOINT/v1/metrics on close', async () => {
    receiver = await startOtlpReceiver();
    metrics = await metricsFromEnv({
      env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'gateway', OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-tenant=t' },
    });
    expect(metrics!.description).toBe(`otlp http/json ${receiver.url}/v1/metrics every 60000 ms`);
    const mcp = new McpTracing({ tracer: new BasicTracerProvider().getTracer('t'), meter: metrics!.meter });
    await mcp.server({ method: 'tools/call', tool: 'lookup', transport: 'tcp', protocolVersion: '2025-11-25', sessionId: 'secret' }, undefined, () => ({ content: [] }));
    await metrics!.close();
    expect(receiver.received.map((r) => [r.path, r.headers['x-tenant']])).toEqual([['/v1/metrics', 't']]);
    expect(receiver.histograms()).toMatchObject([
      {
        service: 'gateway',
        name: 'mcp.server.operation.duration',
        unit: 's',
        count: 1,
        attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'lookup', 'network.transport': 'tcp', 'mcp.protocol.version': '2025-11-25' },
      },
    ]);
    expect(receiver.histograms()[0]!.attributes['mcp.session.id']).toBeUndefined();
  });

  it('exports protobuf by default, to OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as is', async () => {
    receiver = await startOtlpReceiver();
    metrics = await metricsFromEnv({ env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/custom`, OTEL_METRIC_EXPORT_INTERVAL: '5000' } });
    expect(metrics!.description).toBe(`otlp http/protobuf ${receiver.url}/custom every 5000 ms`);
    metrics!.meter.createHistogram('x').record(1);
    await metrics!.close();
    expect(receiver.received.map((r) => [r.path, r.contentType])).toEqual([['/custom', 'application/x-protobuf']]);
  });

  it.each([
    [{ OTEL_METRICS_EXPORTER: 'prometheus' }, /`OTEL_METRICS_EXPORTER`.*`prometheus`/],
    [{ OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' }, /`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`.*grpc is not supported/],
    [{ OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: '0' }, /`OTEL_METRIC_EXPORT_INTERVAL`/],
    [{ OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'k=%zz-secret' }, /`OTEL_EXPORTER_OTLP_HEADERS` to be URL-encoded/],
  ])('refuses %j with config_error naming the variable', async (env, message) => {
    const refusal = metricsFromEnv({ env });
    await expect(refusal).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(message) });
    await expect(refusal).rejects.not.toThrow(/secret/);
  });
});
