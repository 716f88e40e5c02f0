import { spawn, type ChildProcess } from 'node:child_process';

/** A child process started by {@link startServer}, with the URL it printed. */
export interface RunningServer {
  readonly url: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** Matches the line that announces the URL; its first group is the URL. */
  readonly ready: RegExp;
  /**
   * How long to wait for that line, in ms.
   * @default 20000
   */
  readonly timeoutMs?: number;
  /** Receives every output line (for a log file); lines are also kept for the error message. */
  readonly onLine?: (line: string) => void;
  /** Stops the process (and rejects, while waiting for the URL) when aborted. */
  readonly signal?: AbortSignal;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/**
 * Starts `command args` (no shell) and waits until a line of its stdout or stderr matches
 * `ready`. Fails with the output seen so far when the process exits first or `timeoutMs` passes
 * (the process is then stopped).
 */
export async function startServer(command: string, args: readonly string[], options: StartServerOptions): Promise<RunningServer> {
  options.signal?.throwIfAborted();
  const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const onAbort = (): void => void stopChild(child);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  child.once('exit', () => options.signal?.removeEventListener('abort', onAbort));
  const seen: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not announce its URL within ${options.timeoutMs ?? 20000} ms`), options.timeoutMs ?? 20000);
    const fail = (why: string): void => {
      clearTimeout(timer);
      void stopChild(child);
      reject(new Error(`${command} ${args.join(' ')} ${why}. Its output:\n${seen.slice(-30).join('\n')}`));
    };
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        seen.push(line);
        options.onLine?.(line);
        const match = options.ready.exec(line);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => fail(`could not start: ${error.message}`));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? `code ${String(code)}`}) before it announced its URL`));
  });
  return { url, stop: (graceMs) => stopChild(child, graceMs) };
}

/**
 * Runs `command args` (no shell) to completion, stopping it after `timeoutMs` or when `signal` is
 * aborted; resolves with its exit code.
 */
export function runToEnd(command: string, args: readonly string[], timeoutMs: number, onLine?: (line: string) => void, signal?: AbortSignal): Promise<{ code: number | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onAbort = (): void => void stopChild(child, 2000);
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('exit', () => signal?.removeEventListener('abort', onAbort));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stopChild(child, 2000);
    }, timeoutMs);
    let partial = '';
    const onData = (chunk: Buffer): void => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine?.(line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (partial !== '') onLine?.(partial);
      resolve({ code, timedOut });
    });
  });
}
