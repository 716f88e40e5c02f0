import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = new URL('../dist/index.js', import.meta.url).href;

/** True while a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A child that starts an embedded Postgres (no DATABASE_URL, no Docker), prints its data directory and the
 * postmaster's pid, then leaves the way `how` says, never calling stop().
 */
async function leave(how: 'exit' | 'throw' | 'SIGTERM'): Promise<{ dir: string; pid: number; code: number | null }> {
  const script = `
    const { startPostgres } = await import(${JSON.stringify(DIST)});
    await startPostgres();
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
    if (${JSON.stringify(how)} === 'exit') process.exit(0);
    if (${JSON.stringify(how)} === 'throw') setTimeout(() => { throw new Error('a crash mid-run'); }, 10);
  `;
  const env = { ...process.env, DOCKER_HOST: '', DATABASE_URL: '' };
  delete (env as Record<string, string | undefined>)['DATABASE_URL'];
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const dir = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m = /data in (\S+)/.exec(out);
      if (m && out.includes('ready')) resolve(m[1]!);
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', () => reject(new Error(`the child exited before Postgres was up:\n${out}`)));
  });
  const pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  if (how === 'SIGTERM') child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { dir, pid, code };
}

describe.skipIf(existsSync('/var/run/docker.sock'))('embedded Postgres: nothing left behind on any exit path', () => {
  it.each(['exit', 'throw', 'SIGTERM'] as const)('%s', async (how) => {
    const { dir, pid } = await leave(how);
    // The server is told to stop at once; give it a moment to go.
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
