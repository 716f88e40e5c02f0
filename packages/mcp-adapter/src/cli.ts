#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { startMetricsServer } from '@mcp-concurrency/metrics-prometheus';
import { Registry } from 'prom-client';
import { loadConfig, type McpConfig } from './config/load.js';
import { connectUpstream, proxyUpstream, type UpstreamSpec } from './proxy.js';
import { ToolRuntime } from './runtime.js';
import { createMcpServer } from './server/mcp-server.js';
import { serveHttp, serveStdio, type Serving } from './server/serve.js';

const USAGE = `mcp-concurrency: concurrent, rate-limited MCP tools from a YAML file

Usage:
  mcp-concurrency serve --config FILE [--http HOST:PORT] [--metrics HOST:PORT] [--token TOKEN]
  mcp-concurrency proxy --config FILE [--http HOST:PORT] [--metrics HOST:PORT] (--upstream URL | -- COMMAND [ARGS...])
  mcp-concurrency check --config FILE

Options:
  --config FILE          the configuration (the shape of the seed's gantz.yaml)
  --http HOST:PORT       serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST defaults to 127.0.0.1)
  --metrics HOST:PORT    serve Prometheus /metrics there (with --http, /metrics is also served beside /mcp)
  --token TOKEN          require "Authorization: Bearer TOKEN" over HTTP (or set MCP_CONCURRENCY_TOKEN)
  --allow-origin ORIGIN  a browser origin allowed to call over HTTP (repeatable)
  --upstream URL         proxy a Streamable HTTP MCP server
  -h, --help             this text
`;

function log(line: string): void {
  // stdout is the MCP stdio channel: everything else goes to stderr.
  process.stderr.write(`mcp-concurrency: ${line}\n`);
}

function hostPort(value: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(value);
  if (!match) throw new McpConcurrencyError('invalid_argument', `${flag} expects HOST:PORT or PORT, got "${value}"`);
  return { host: match[1] || '127.0.0.1', port: Number(match[2]) };
}

function describeConfig(config: McpConfig): string {
  const lines = [`${config.file}: "${config.name}", ${config.tools.length} tool(s)`];
  lines.push(`  max_parallel ${config.maxParallel}, thread_pool_size ${config.threadPoolSize}${config.maxQueued === undefined ? '' : `, max_queued ${config.maxQueued}`}${config.maxPerSession === undefined ? '' : `, max_per_session ${config.maxPerSession}`}`);
  for (const [name, limit] of Object.entries(config.rateLimits)) {
    lines.push(`  rate limit ${name}: ${limit.rate}/s, burst ${limit.burst}${config.redisUrl ? ' (shared on Redis)' : ''}${name === 'default' ? ' (every tool)' : ''}`);
  }
  for (const tool of config.tools) {
    const kind = tool.run.kind === 'script' ? `script ${tool.run.command}` : tool.run.kind === 'http' ? `http ${tool.run.method} ${safeOrigin(tool.run.url)}` : 'sql';
    const limits = [
      tool.maxParallel === undefined ? undefined : `max_parallel ${tool.maxParallel}`,
      tool.rateLimit === undefined ? undefined : `rate_limit ${tool.rateLimit}`,
      tool.timeoutMs === undefined ? undefined : `timeout ${tool.timeoutMs} ms`,
      tool.retry === undefined ? undefined : `retry ${tool.retry.retries}`,
    ].filter(Boolean);
    lines.push(`  tool ${tool.name} (${kind})${limits.length ? `: ${limits.join(', ')}` : ''}`);
  }
  for (const rule of config.proxyRules) lines.push(`  proxy rule ${rule.match}: ${JSON.stringify({ maxParallel: rule.maxParallel, rateLimit: rule.rateLimit, timeoutMs: rule.timeoutMs })}`);
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

async function main(argv: string[]): Promise<number> {
  const dashDash = argv.indexOf('--');
  const upstreamCommand = dashDash >= 0 ? argv.slice(dashDash + 1) : [];
  const { values, positionals } = parseArgs({
    args: dashDash >= 0 ? argv.slice(0, dashDash) : argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      http: { type: 'string' },
      metrics: { type: 'string' },
      token: { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      upstream: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (!['serve', 'proxy', 'check'].includes(command)) throw new McpConcurrencyError('invalid_argument', `Unknown command "${command}" (serve, proxy or check)`);
  if (values.config === undefined) throw new McpConcurrencyError('invalid_argument', `${command} needs --config FILE`);
  const config = await loadConfig(values.config);
  if (command === 'check') {
    process.stdout.write(`${describeConfig(config)}\nOK\n`);
    return 0;
  }

  const registry = new Registry();
  const runtime = await ToolRuntime.create(config, { registry });
  const closers: (() => Promise<void>)[] = [];
  if (command === 'proxy') {
    let upstream: UpstreamSpec;
    if (values.upstream !== undefined) upstream = { url: values.upstream };
    else if (upstreamCommand.length > 0) upstream = { command: upstreamCommand[0]!, args: upstreamCommand.slice(1) };
    else throw new McpConcurrencyError('invalid_argument', 'proxy needs --upstream URL or -- COMMAND [ARGS...]');
    const client = await connectUpstream(upstream, `${config.name}-proxy`);
    closers.push(() => client.close());
    await proxyUpstream(runtime, client, config.proxyRules);
    log(`proxying ${runtime.tools.length} upstream tool(s)`);
  }
  const newServer = (): ReturnType<typeof createMcpServer> => createMcpServer(runtime);
  let serving: Serving;
  if (values.http !== undefined) {
    const { host, port } = hostPort(values.http, '--http');
    serving = await serveHttp(newServer, {
      host,
      port,
      token: values.token ?? process.env['MCP_CONCURRENCY_TOKEN'],
      allowedOrigins: values['allow-origin'],
      registry,
    });
    log(`listening on ${serving.url}${host === '127.0.0.1' || host === 'localhost' ? '' : ' (not loopback: use --token)'}`);
  } else {
    serving = await serveStdio(newServer);
    log(`serving "${config.name}" over stdio`);
  }
  if (values.metrics !== undefined) {
    const { host, port } = hostPort(values.metrics, '--metrics');
    const metrics = await startMetricsServer(registry, { host, port });
    closers.push(metrics.close);
    log(`metrics on ${metrics.url}`);
  }

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (values.http === undefined) process.stdin.once('end', stop); // the client went away
  });
  log('shutting down');
  await serving.close();
  await runtime.close();
  await Promise.all(closers.map((c) => c().catch(() => {})));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(error instanceof McpConcurrencyError && (error.code === 'config_error' || error.code === 'invalid_argument') ? 2 : 1);
  },
);
