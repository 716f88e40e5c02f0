import { access, constants } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';
import { compileSqlTool, PostgresPool } from '@mcp-concurrency/pool-postgres';
import { WorkerPool } from '@mcp-concurrency/pool-worker';
import { scriptEnvironment } from '../tools/script-tool.js';
import { Redis } from 'ioredis';
import type { McpConfig, ToolConfig } from './load.js';

/** One thing `check --connect` looked at (or says it did not). */
export interface Probe {
  readonly what: string;
  readonly status: 'ok' | 'failed' | 'not probed';
  readonly detail: string;
}

export interface ProbeOptions {
  /** How long each network probe may take. @default 5_000 */
  readonly timeoutMs?: number;
  /** Where commands are looked up. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * What can be checked at load time without running a tool: the database answers and every sql tool's
 * query prepares (PREPARE in a read-only transaction: parsed and planned, never executed), every script
 * tool's command exists and is executable, every worker tool's module loads on a worker thread with its
 * export a function, Redis answers PING. http tools are never called (a request
 * may have effects) and scripts never run: those are reported as not probed. Secrets (URLs with
 * passwords, headers) are never printed.
 */
export async function probeConfig(config: McpConfig, options: ProbeOptions = {}): Promise<Probe[]> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const env = options.env ?? process.env;
  const probes: Promise<Probe[]>[] = [];
  const sqlTools = config.tools.filter((t) => t.run.kind === 'sql');
  if (config.database !== undefined) probes.push(probeDatabase(config.database.url, sqlTools, timeoutMs));
  if (config.redisUrl !== undefined) probes.push(probeRedis(config.redisUrl, timeoutMs).then((p) => [p]));
  const workerTools = config.tools.filter((t) => t.run.kind === 'worker');
  if (workerTools.length > 0) probes.push(probeWorkers(workerTools, timeoutMs));
  for (const tool of config.tools) {
    if (tool.run.kind === 'script') probes.push(probeCommand(tool, env).then((p) => [p]));
    if (tool.run.kind === 'http') {
      probes.push(Promise.resolve([{ what: `http tool ${tool.name}`, status: 'not probed', detail: 'not called at check time: a request could have effects' }]));
    }
  }
  if (config.tools.some((t) => t.run.kind === 'script')) {
    probes.push(Promise.resolve([{ what: 'script tools', status: 'not probed', detail: 'not run at check time: only their commands were looked up' }]));
  }
  if (config.proxyRules.length > 0 || Object.keys(config.proxyMethods).length > 0) {
    probes.push(Promise.resolve([{ what: 'proxy upstream', status: 'not probed', detail: 'given to `proxy`, not to `check`' }]));
  }
  return (await Promise.all(probes)).flat();
}

async function probeDatabase(url: string, tools: readonly ToolConfig[], timeoutMs: number): Promise<Probe[]> {
  const db = new PostgresPool({ connectionString: url, max: 1, connectionTimeoutMillis: timeoutMs, timeoutMs, applicationName: 'mcp-concurrency check' });
  const probes: Probe[] = [];
  try {
    const started = performance.now();
    const { rows } = await db.query<{ version: string }>("SELECT current_setting('server_version') AS version");
    probes.push({ what: 'database', status: 'ok', detail: `answered in ${Math.round(performance.now() - started)} ms (PostgreSQL ${rows[0]!.version})` });
  } catch (error) {
    await db.close();
    return [{ what: 'database', status: 'failed', detail: describeThrown(error) }, ...tools.map((t) => skipped(`sql tool ${t.name}`, 'the database did not answer'))];
  }
  for (const tool of tools) {
    const { text } = compileSqlTool(tool.name, (tool.run as { query: string }).query, tool.parameters);
    try {
      await db.transaction(async (tx) => {
        await tx.query(`PREPARE mcp_concurrency_check AS ${text}`);
        await tx.query('DEALLOCATE mcp_concurrency_check');
      }, { readOnly: true });
      probes.push({ what: `sql tool ${tool.name}`, status: 'ok', detail: 'the query prepares (parsed and planned, not run)' });
    } catch (error) {
      probes.push({ what: `sql tool ${tool.name}`, status: 'failed', detail: describeThrown(error) });
    }
  }
  await db.close();
  return probes;
}

async function probeRedis(url: string, timeoutMs: number): Promise<Probe> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {}); // the failure is reported by connect() below
  const what = 'Redis (concurrency.redis_url)';
  try {
    const started = performance.now();
    await redis.connect();
    await redis.ping();
    return { what, status: 'ok', detail: `answered PING in ${Math.round(performance.now() - started)} ms` };
  } catch (error) {
    return { what, status: 'failed', detail: describeThrown(error) };
  } finally {
    redis.disconnect();
  }
}

/**
 * Each worker tool's module loaded on a worker thread, as `serve` loads it (never on this thread: its
 * top-level code runs there only), and its export checked to be a function; the function is not called.
 * A failure names the config line of `worker.module`.
 */
async function probeWorkers(tools: readonly ToolConfig[], timeoutMs: number): Promise<Probe[]> {
  const pool = new WorkerPool({ maxThreads: 1, env: scriptEnvironment() as Record<string, string> });
  const probes: Probe[] = [];
  try {
    for (const tool of tools) {
      const run = tool.run as { module: string; export: string };
      const what = `worker tool ${tool.name}`;
      try {
        await pool.check(run.module, run.export, { signal: AbortSignal.timeout(timeoutMs) });
        probes.push({ what, status: 'ok', detail: `export "${run.export}" of ${run.module} loads and is a function (not called)` });
      } catch (error) {
        const why = error instanceof DOMException && error.name === 'TimeoutError' ? `the module did not load within ${timeoutMs} ms` : describeThrown(error);
        probes.push({ what, status: 'failed', detail: `${tool.at === undefined ? '' : `${tool.at}: `}${why}` });
      }
    }
  } finally {
    await pool.destroy();
  }
  return probes;
}

/** The command as spawn would find it: a path (from the tool's folder) or a name on PATH. */
async function probeCommand(tool: ToolConfig, env: NodeJS.ProcessEnv): Promise<Probe> {
  const { command, cwd } = tool.run as { command: string; cwd?: string };
  const what = `script tool ${tool.name}`;
  const candidates = command.includes('/') || isAbsolute(command)
    ? [resolve(cwd ?? '.', command)]
    : (env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return { what, status: 'ok', detail: `${command} found at ${candidate}` };
    } catch {
      // not there, or not executable: the next one
    }
  }
  return { what, status: 'failed', detail: command.includes('/') ? `${command} is not an executable file (from ${cwd ?? '.'})` : `${command} is not on PATH` };
}

function skipped(what: string, why: string): Probe {
  return { what, status: 'not probed', detail: why };
}

/** The probes as `check --connect` prints them, and the exit code they mean (1 when one failed). */
export function formatProbes(probes: readonly Probe[]): { text: string; code: number } {
  const width = Math.max(...probes.map((p) => p.status.length), 2);
  const lines = probes.map((p) => `  ${(p.status === 'failed' ? 'FAILED' : p.status).padEnd(width)}  ${p.what}: ${p.detail}`);
  const count = (status: Probe['status']): number => probes.filter((p) => p.status === status).length;
  lines.push(`probes: ${count('ok')} ok, ${count('failed')} failed, ${count('not probed')} not probed`);
  return { text: `${lines.join('\n')}\n`, code: count('failed') > 0 ? 1 : 0 };
}
