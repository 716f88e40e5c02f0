import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The built CLI of this package. */
export const CLI_PATH = fileURLToPath(new URL('../cli.js', import.meta.url));

export interface RunningServer {
  readonly child: ChildProcess;
  /** The Streamable HTTP URL it printed (`listening on URL`). */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts a process that prints `listening on URL` to stderr (the CLI with `--http`, or any script of the
 * same habit) and resolves with that URL. For tests, benchmarks and the load-test harness.
 * @example const server = await spawnListening([CLI_PATH, 'serve', '--config', file, '--http', '127.0.0.1:0']);
 */
export async function spawnListening(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  /** `detached`: the process leads a process group of its own (signal it all with `process.kill(-pid, ...)`, as a terminal's Ctrl-C does). @default false */
  options: { readonly detached?: boolean } = {},
): Promise<RunningServer> {
  const child = spawn(process.execPath, [...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: options.detached === true });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${err.trim()}`)));
  });
  return {
    child,
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/**
 * Opens a 2025-11-25 MCP session over Streamable HTTP by hand (initialize, then notifications/initialized) and
 * returns its id: what a load generator such as autocannon sends in `mcp-session-id`.
 */
export async function openRawSession(url: string, headers: Readonly<Record<string, string>> = {}): Promise<string> {
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers };
  const res = await fetch(url, {
    method: 'POST',
    headers: base,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-session', version: '0' } } }),
  });
  await res.text();
  const id = res.headers.get('mcp-session-id');
  if (!res.ok || id === null) throw new Error(`initialize failed: HTTP ${res.status}`);
  await (await fetch(url, { method: 'POST', headers: { ...base, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text();
  return id;
}

/** Runs a node program to its end and collects its exit code and output (a CLI under test). */
export async function runToCompletion(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
