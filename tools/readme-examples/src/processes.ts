// Starting the README's programs and commands, bounded in time, and stopping them with their children.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface Started {
  readonly child: ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects on exit or after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /**
   * `signal` (SIGTERM unless told; SIGINT is what Ctrl-C sends) to the process group, then SIGKILL after
   * `graceMs`; resolves with how it ended.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `argv` without a shell, in its own process group (so `npx` and what it starts stop together). */
export function start(argv: readonly string[], options: { cwd: string; env?: Record<string, string>; stdin?: 'pipe' | 'ignore' }): Started {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer): void => {
    text += d.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    output: () => text,
    waitFor: (pattern, ms = 30_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(text);
          if (match) {
            cleanup();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`"${argv.join(' ')}" printed no ${pattern} within ${ms} ms:\n${text}`));
        }, ms);
        const onExit = (): void => {
          cleanup();
          reject(new Error(`"${argv.join(' ')}" exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${text}`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
    stop: async (signal = 'SIGTERM', graceMs = 10_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, signal);
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return { code: child.exitCode, signal: child.signalCode };
    },
  };
}

/** Runs `argv` to its end (at most `ms`), with its exit code and output. */
export async function run(argv: readonly string[], options: { cwd: string; env?: Record<string, string>; ms?: number }): Promise<{ code: number | null; output: string }> {
  const started = start(argv, options);
  const timer = setTimeout(() => signalGroup(started.child, 'SIGKILL'), options.ms ?? 60_000);
  await once(started.child, 'exit');
  clearTimeout(timer);
  return { code: started.child.exitCode, output: started.output() };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // Already gone.
  }
}
