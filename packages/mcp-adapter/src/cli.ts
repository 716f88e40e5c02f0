#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { startMetricsServer } from '@mcp-concurrency/metrics-prometheus';
import { metricsFromEnv, tracingFromEnv } from '@mcp-concurrency/tracing-opentelemetry/sdk';
import { Registry } from 'prom-client';
import { loadConfig, type McpConfig } from './config/load.js';
import type { McpServerFactory } from '@modelcontextprotocol/server';
import { McpProxy, type UpstreamSpec } from './proxy/index.js';
import { formatProbes, probeConfig } from './config/probe.js';
import { ToolRuntime } from './runtime.js';
import { createMcpServer } from './server/mcp-server.js';
import { serveHttp, serveStdio, type Serving } from './server/serve.js';
import { helpText, parseCommandLine } from './cli/args.js';

/** How long running calls may finish after SIGTERM/SIGINT, in ms (`MCP_CONCURRENCY_GRACE_MS`, checked at start). */
/** A tool's or rule's limits as the YAML names them: `max_parallel 2, rate_limit search, timeout 5000 ms`. */
function limitsText(policy: { readonly maxParallel?: number; readonly rateLimit?: string; readonly timeoutMs?: number; readonly retry?: { readonly retries: number } }): string {
  return [
    policy.maxParallel === undefined ? undefined : `max_parallel ${policy.maxParallel}`,
    policy.rateLimit === undefined ? undefined : `rate_limit ${policy.rateLimit}`,
    policy.timeoutMs === undefined ? undefined : `timeout ${policy.timeoutMs} ms`,
    policy.retry === undefined ? undefined : `retry ${policy.retry.retries}`,
  ]
    .filter(Boolean)
    .join(', ');
}

function shutdownGraceMs(): number {
  const text = process.env['MCP_CONCURRENCY_GRACE_MS'];
  if (text === undefined || text === '') return 10_000;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new McpConcurrencyError('invalid_argument', `MCP_CONCURRENCY_GRACE_MS must be a number of ms >= 0, got "${text}"`);
  return value;
}

function log(line: string): void {
  // stdout is the MCP stdio channel: everything else goes to stderr.
  process.stderr.write(`mcp-concurrency: ${line}\n`);
}

function describeConfig(config: McpConfig): string {
  const lines = [`${config.file}: "${config.name}", ${config.tools.length} tool(s)`];
  lines.push(`  max_parallel ${config.maxParallel}, thread_pool_size ${config.threadPoolSize}${config.maxQueued === undefined ? '' : `, max_queued ${config.maxQueued}`}${config.maxPerSession === undefined ? '' : `, max_per_session ${config.maxPerSession}`}`);
  for (const [name, limit] of Object.entries(config.rateLimits)) {
    lines.push(`  rate limit ${name}: ${limit.rate}/s, burst ${limit.burst}${config.redisUrl ? ' (shared on Redis)' : ''}${name === 'default' ? ' (every tool)' : ''}`);
  }
  for (const tool of config.tools) {
    const run = tool.run;
    const kind = run.kind === 'script' ? `script ${run.command}` : run.kind === 'http' ? `http ${run.method} ${safeOrigin(run.url)}` : run.kind === 'worker' ? `worker ${basename(run.module)}#${run.export}` : 'sql';
    const limits = limitsText(tool);
    lines.push(`  tool ${tool.name} (${kind})${limits ? `: ${limits}` : ''}`);
  }
  for (const rule of config.proxyRules) lines.push(`  proxy rule ${rule.match}: ${limitsText(rule) || 'the global limits only'}`);
  for (const [method, policy] of Object.entries(config.proxyMethods)) lines.push(`  proxy ${method}: ${limitsText(policy ?? {}) || 'the global limits only'}`);
  if (config.server.maxSessions !== undefined || config.server.sessionIdleMs !== undefined) {
    lines.push(`  http sessions: at most ${config.server.maxSessions ?? 1_000}, closed after ${config.server.sessionIdleMs ?? 600_000} ms idle`);
  }
  if (config.batch) lines.push(`  batch tool: up to ${config.batch.maxCalls} calls`);
  return lines.join('\n');
}

function safeOrigin(url: string): string {
  try {
    return new URL(url.replace(/\{\{[^}]*\}\}/g, 'x')).origin; // never print paths or queries: they may hold secrets
  } catch {
    return '(url)';
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Turns a listener's failure into a message a person can act on. */
async function listening<T>(what: string, at: { host: string; port: number }, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const where = `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
    const why =
      code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EADDRNOTAVAIL' ? 'that address is not one of this machine\'s' : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the host name does not resolve' : error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot serve ${what} on ${where}: ${why}`, { cause: error });
  }
}

async function main(argv: string[]): Promise<number> {
  const invocation = parseCommandLine(argv);
  if (invocation.kind === 'help') {
    process.stdout.write(helpText(invocation.command));
    return 0;
  }
  if (invocation.kind === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const { command } = invocation;
  const config = await loadConfig(invocation.config);
  if (command === 'check') {
    process.stdout.write(`${describeConfig(config)}\nOK\n`);
    if (invocation.connect !== true) return 0;
    const probes = formatProbes(await probeConfig(config));
    process.stdout.write(probes.text);
    return probes.code;
  }

  // Off unless OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER names an exporter; the OpenTelemetry SDK is loaded only then.
  const tracing = await tracingFromEnv({ serviceName: config.name });
  const otelMetrics = await metricsFromEnv({ serviceName: config.name }).catch(async (error: unknown) => {
    await tracing?.destroy();
    throw error;
  });
  const SHUTDOWN_GRACE_MS = shutdownGraceMs();
  const token = invocation.token ?? process.env['MCP_CONCURRENCY_TOKEN'];
  if (token !== undefined && token.trim() === '') throw new McpConcurrencyError('invalid_argument', 'The bearer token (--token or MCP_CONCURRENCY_TOKEN) is empty: give a real one, or none');
  const registry = new Registry();
  const runtime = await ToolRuntime.create(config, { registry, tracer: tracing?.tracer, meter: otelMetrics?.meter }).catch(async (error: unknown) => {
    await tracing?.destroy();
    await otelMetrics?.destroy();
    throw error;
  });
  // Closed in reverse: tracing and metrics last, so the spans and durations of calls settled while shutting down are exported.
  const closers: (() => Promise<void>)[] = [
    ...(tracing === undefined ? [] : [() => tracing.close()]),
    ...(otelMetrics === undefined ? [] : [() => otelMetrics.close()]),
    () => runtime.close(),
  ];
  const shutDown = async (): Promise<void> => {
    for (const close of closers.reverse()) await close().catch(() => {});
  };
  const announce: string[] = [];
  let factory: McpServerFactory = () => createMcpServer(runtime);
  let proxy: McpProxy | undefined;
  let serving: Serving;
  try {
    if (invocation.upstream !== undefined) {
      const upstream: UpstreamSpec = 'url' in invocation.upstream ? { url: invocation.upstream.url } : { command: invocation.upstream.command, args: invocation.upstream.args };
      const connected = await McpProxy.connect(runtime, { upstream, rules: config.proxyRules, methods: config.proxyMethods });
      proxy = connected;
      closers.push(() => connected.close({ graceMs: 0 }));
      factory = connected.factory;
      announce.push(`proxying ${runtime.tools.length} upstream tool(s)`);
    }
    // Every listener is up before anything says "listening": a clash fails the start, not a later moment.
    if (invocation.metrics !== undefined) {
      const metrics = await listening('/metrics', invocation.metrics, () => startMetricsServer(registry, invocation.metrics));
      closers.push(metrics.close);
      announce.push(`metrics on ${metrics.url}`);
    }
    const newServer = factory;
    if (invocation.http !== undefined) {
      const { host, port } = invocation.http;
      serving = await listening('MCP', invocation.http, () =>
        serveHttp(newServer, {
          host,
          port,
          token,
          allowedOrigins: invocation.allowOrigins,
          registry,
          maxSessions: invocation.maxSessions ?? config.server.maxSessions,
          sessionIdleMs: invocation.sessionIdleMs ?? config.server.sessionIdleMs,
        }),
      );
      announce.unshift(`listening on ${serving.url}${host === '127.0.0.1' || host === 'localhost' || host === '::1' ? '' : ' (not loopback: use --token)'}`);
    } else {
      serving = await serveStdio(newServer);
      announce.unshift(`serving "${config.name}" over stdio`);
    }
  } catch (error) {
    await shutDown();
    throw error;
  }
  closers.push(() => serving.close());
  // The upstream's list changes reach 2026-07-28 clients' listen streams (2025 clients hear their own sessions').
  proxy?.relayChanges(serving.notify);
  if (tracing !== undefined) announce.push(`tracing to ${tracing.description}`);
  if (otelMetrics !== undefined) announce.push(`OpenTelemetry metrics to ${otelMetrics.description}`);
  for (const line of announce) log(line);

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (invocation.http === undefined) process.stdin.once('end', stop); // the client went away
  });
  log('shutting down');
  // A second Ctrl-C skips the grace period but still stops every call (and its processes) before exiting.
  const now = (): void => {
    log('stopping now');
    void runtime.destroy().finally(() => process.exit(130));
  };
  process.once('SIGINT', now);
  process.once('SIGTERM', now);
  // Stop taking calls; running ones get SHUTDOWN_GRACE_MS to finish, then are cancelled; every call in
  // flight is answered (result or error) before the transport closes.
  const servingClosed = invocation.http === undefined ? undefined : serving.close({ graceMs: SHUTDOWN_GRACE_MS + 2_000 });
  await runtime.close({ graceMs: SHUTDOWN_GRACE_MS });
  await (servingClosed ?? serving.close());
  await shutDown();
  return 0;
}

main(process.argv.slice(2)).then(
  // After stdout has taken everything (a pipe reads it later than a file: `check | wc -l`).
  (code) => void process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    // One log line per line of the message (every missing `${VAR}` of a config is one line), each prefixed.
    for (const line of (error instanceof Error ? error.message : String(error)).split('\n')) log(line);
    // 2: the user can fix what they typed or wrote; 1: something failed while running.
    process.exit(error instanceof McpConcurrencyError && (error.code === 'config_error' || error.code === 'invalid_argument') ? 2 : 1);
  },
);
