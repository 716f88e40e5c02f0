import { McpConcurrencyError, Scheduler } from '@mcp-concurrency/core-scheduler';
import { startPostgres, type PostgresService } from '@mcp-concurrency/test-services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PostgresPool } from './postgres-pool.js';
import { fetchRelated } from './related.js';
import { createServer } from 'node:net';
import { sqlTool } from './sql-tool.js';

let service: PostgresService;
let admin: pg.Pool;
const schema = `mcpc_test_${process.pid}`;
const app = (name: string): string => `mcpc-${process.pid}-${name}`;

beforeAll(async () => {
  service = await startPostgres();
  admin = new pg.Pool({ connectionString: service.url, max: 2 });
  await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await admin.query(`
    CREATE TABLE ${schema}.users (id int PRIMARY KEY, name text);
    CREATE TABLE ${schema}.posts (id int PRIMARY KEY, user_id int, title text);
    CREATE TABLE ${schema}.comments (id int PRIMARY KEY, author_id int, body text);
    INSERT INTO ${schema}.users VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Edsger');
    INSERT INTO ${schema}.posts VALUES (10, 1, 'Notes'), (11, 1, 'More notes'), (12, 2, 'COBOL');
    INSERT INTO ${schema}.comments VALUES (20, 2, 'Nice'), (21, 3, 'Harmful');
  `);
}, 60_000);

afterAll(async () => {
  await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin?.end();
  await service?.stop();
});

/** Backends of one application_name that are running a statement, as the server sees them. */
async function activeQueries(name: string): Promise<string[]> {
  const { rows } = await admin.query<{ query: string }>(
    "SELECT query FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
    [name],
  );
  return rows.map((r) => r.query);
}

describe('PostgresPool against a real Postgres', () => {
  it('runs queries in parallel, up to the pool size, as the server records it', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 5, applicationName: app('parallel') });
    const sql = 'SELECT clock_timestamp() AS started, pg_sleep(0.1), clock_timestamp() AS finished';
    const results = await db.queryMany(Array.from({ length: 10 }, () => ({ sql })));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    const spans = results.map((r) => r.value!.rows[0] as { started: Date; finished: Date });
    const overlap = (at: Date): number => spans.filter((s) => s.started <= at && at < s.finished).length;
    const most = Math.max(...spans.map((s) => overlap(s.started)));
    expect(most).toBe(5); // never more than the pool, and the pool fully used
    await db.close();
  });

  it('sqlComment: the server sees the comment on each statement (query, with params, in a transaction); malformed ones are dropped', async () => {
    const traceparent = `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-00f067aa0ba902b7-01`;
    let comment = `/*traceparent='${traceparent}'*/`;
    const db = new PostgresPool({ connectionString: service.url, max: 1, applicationName: app('comment'), sqlComment: () => comment });
    // pg_stat_activity's `query` is the statement as the server received it.
    const own = 'SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()';
    expect((await db.query<{ query: string }>(own)).rows[0]!.query).toBe(`${own} ${comment}`);
    expect((await db.query<{ query: string }>(`${own} AND $1::int = 1`, [1])).rows[0]!.query).toBe(`${own} AND $1::int = 1 ${comment}`);
    expect(await db.transaction((tx) => tx.query<{ query: string }>(own))).toMatchObject({ rows: [{ query: `${own} ${comment}` }] });
    for (const bad of ['/* a /* b */', '/* a */ SELECT 1 /* b */', 'traceparent', '/*x*/;DROP TABLE t;/*y*/']) {
      comment = bad;
      expect((await db.query<{ query: string }>(own)).rows[0]!.query).toBe(own);
    }
    await db.close();
    const throwing = new PostgresPool({ connectionString: service.url, max: 1, applicationName: app('comment'), sqlComment: () => { throw new Error('tracer bug'); } });
    expect((await throwing.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await throwing.close();
  });

  it('cancels a running query on the server when the signal aborts', async () => {
    const name = app('cancel');
    const db = new PostgresPool({ connectionString: service.url, max: 2, applicationName: name });
    const controller = new AbortController();
    const pending = db.query('SELECT pg_sleep(30)', [], { signal: controller.signal });
    await vi.waitFor(async () => expect(await activeQueries(name)).toEqual(['SELECT pg_sleep(30)']), { timeout: 5_000 });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
    await vi.waitFor(async () => expect(await activeQueries(name)).toEqual([]), { timeout: 1_000, interval: 50 });
    expect(db.stats().cancels).toBe(1);
    // The connection came back clean and is reused.
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(db.stats().total).toBe(1);
    await db.close();
  });

  it('a deadline cancels the statement on the server (timeout) and leaves the pool usable', async () => {
    const name = app('deadline');
    const db = new PostgresPool({ connectionString: service.url, max: 1, applicationName: name });
    await expect(db.query('SELECT pg_sleep(10)', [], { timeoutMs: 150 })).rejects.toMatchObject({ code: 'timeout' });
    await vi.waitFor(async () => expect(await activeQueries(name)).toEqual([]), { timeout: 1_000, interval: 50 });
    expect((await db.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await db.close();
  });

  it('a call cancelled while it waits for a connection never reaches the server', async () => {
    const name = app('queued');
    const db = new PostgresPool({ connectionString: service.url, max: 1, applicationName: name });
    const busy = db.query('SELECT pg_sleep(0.3)');
    const controller = new AbortController();
    const queued = db.query("SELECT 'never ran'", [], { signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toMatchObject({ code: 'cancelled' });
    await busy;
    const { rows } = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT ''never ran'''");
    expect(rows[0].n).toBe(0);
    await db.close();
  });

  it('queued calls through queryMany are cancelled by the signal, results stay in order', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 1, applicationName: app('many') });
    const controller = new AbortController();
    const pending = db.queryMany([{ sql: 'SELECT pg_sleep(0.2), 1 AS n' }, { sql: 'SELECT 2 AS n' }, { sql: 'SELECT nonsense' }], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const results = await pending;
    expect(results.map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    const again = await db.queryMany([{ sql: 'SELECT 1 AS n' }, { sql: 'SELECT nonsense' }, { sql: 'SELECT 3 AS n' }]);
    expect(again.map((r) => r.status)).toEqual(['ok', 'error', 'ok']);
    expect(again[1]!.error).toMatchObject({ code: 'db_error' });
    expect(again[1]!.error!.message).toContain('SQLSTATE 42703');
    await db.close();
  });

  it('close() lets queries in flight finish and refuses new ones; its grace ends by cancelling them on the server', async () => {
    const name = app('close');
    const db = new PostgresPool({ connectionString: service.url, max: 2, applicationName: name });
    const short = db.query('SELECT pg_sleep(0.2), 1 AS done');
    const long = db.query('SELECT pg_sleep(30)');
    await vi.waitFor(async () => expect((await activeQueries(name)).length).toBe(2), { timeout: 5_000 });
    const controller = new AbortController();
    const closing = db.close({ signal: controller.signal });
    expect(db.close()).toBe(closing);
    await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'closed', message: 'The Postgres pool is closed' });
    expect((await short).rows).toEqual([{ pg_sleep: '', done: 1 }]);
    expect(await activeQueries(name)).toEqual(['SELECT pg_sleep(30)']); // still in its grace
    controller.abort(new Error('deploy'));
    await expect(long).rejects.toMatchObject({ code: 'closed' });
    await closing;
    await vi.waitFor(async () => expect(await activeQueries(name)).toEqual([]), { timeout: 2_000, interval: 50 });
    expect(db.pool.totalCount).toBe(0); // the pool it built is ended
  });

  it('destroy() cancels every query in flight on the server at once, and is idempotent', async () => {
    const name = app('destroy');
    const db = new PostgresPool({ connectionString: service.url, max: 2, applicationName: name });
    const running = [db.query('SELECT pg_sleep(30)'), db.transaction((tx) => tx.query('SELECT pg_sleep(30)'))];
    await vi.waitFor(async () => expect((await activeQueries(name)).length).toBe(2), { timeout: 5_000 });
    const reason = new Error('shutting down');
    // Both outcomes are taken at once: awaiting one while the other rejects would leave that one unhandled.
    const outcomes = Promise.allSettled(running);
    const destroying = db.destroy(reason);
    expect(db.destroy()).toBe(destroying);
    for (const outcome of await outcomes) expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'closed', cause: reason } });
    await destroying;
    await vi.waitFor(async () => expect(await activeQueries(name)).toEqual([]), { timeout: 2_000, interval: 50 });
  });

  it('terminated backends fail their calls with a clear error; later calls succeed; nothing hangs', async () => {
    const name = app('terminate');
    const errors: Error[] = [];
    const db = new PostgresPool({ connectionString: service.url, max: 3, applicationName: name, onError: (e) => errors.push(e) });
    const running = Array.from({ length: 3 }, () => db.query('SELECT pg_sleep(5)').then(() => 'ok', (e: { code: string; message: string; retryable: boolean }) => e));
    await vi.waitFor(async () => expect((await activeQueries(name)).length).toBe(3), { timeout: 5_000 });
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
    const outcomes = await Promise.all(running);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 'db_error', retryable: true });
      expect((outcome as { message: string }).message).toMatch(/terminat/i);
    }
    expect((await db.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    // An idle connection killed under the pool: the 'error' event is handled, the process lives.
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(1), { timeout: 2_000 });
    expect((await db.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await db.close();
  });

  it('transaction commits, rolls back on error and on abort; read-only refuses writes', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 2, applicationName: app('tx') });
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${schema}.users VALUES (100, 'tx')`);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${schema}.users VALUES (101, 'rolled back')`);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    const controller = new AbortController();
    const aborted = db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${schema}.users VALUES (102, 'aborted')`);
      await tx.query('SELECT pg_sleep(5)');
    }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(aborted).rejects.toMatchObject({ code: 'cancelled' });
    const { rows } = await admin.query(`SELECT id FROM ${schema}.users WHERE id >= 100 ORDER BY id`);
    expect(rows).toEqual([{ id: 100 }]);

    const readOnly = new PostgresPool({ connectionString: service.url, max: 1, readOnly: true, applicationName: app('ro') });
    await expect(readOnly.query(`DELETE FROM ${schema}.users`)).rejects.toMatchObject({ code: 'db_error', message: expect.stringContaining('25006') });
    expect((await readOnly.query(`SELECT count(*)::int AS n FROM ${schema}.users`)).rows[0]).toEqual({ n: 4 });
    await admin.query(`DELETE FROM ${schema}.users WHERE id >= 100`);
    await Promise.all([db.close(), readOnly.close()]);
  });
});

describe('fetchRelated', () => {
  it('fetches an entity and its relations concurrently, identifiers checked and quoted', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 4, applicationName: app('related') });
    const users = await fetchRelated(db, 'users', [1, 2], ['posts', { table: 'comments', foreignKey: 'author_id' }], { schema });
    const byId = Object.fromEntries(users.map((u) => [u['id'] as number, u as Record<string, Record<string, unknown>[]>]));
    expect(byId[1]!['posts']!.map((p) => p['title'])).toEqual(['Notes', 'More notes']);
    expect(byId[2]!['comments']!.map((c) => c['body'])).toEqual(['Nice']);
    expect(byId[1]!['comments']).toEqual([]);
    await db.close();
  });

  it.each([
    ['users; DROP TABLE users', ['posts'], 'Unknown table "users; DROP TABLE users"'],
    ['users', ['posts" WHERE true; --'], 'Unknown table "posts" WHERE true; --"'],
    ['users', [{ table: 'posts', foreignKey: 'user_id = user_id OR 1=1' }], 'Unknown column "user_id = user_id OR 1=1" in table "posts"'],
    ['users', ['comments'], 'Table "comments" has none of the columns "users_id", "user_id"'],
  ] as const)('refuses %j / %j before anything runs', async (entity, relations, message) => {
    const name = app('inject');
    const db = new PostgresPool({ connectionString: service.url, max: 2, applicationName: name });
    await expect(fetchRelated(db, entity, [1], relations as never, { schema })).rejects.toMatchObject({ code: 'unknown_identifier', message: expect.stringContaining(message) });
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.users`);
    expect(rows[0].n).toBe(3);
    await db.close();
  });

  it('an allow-list replaces the catalog', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 2, applicationName: app('allow') });
    const allow = { users: ['id', 'name'], posts: ['id', 'user_id', 'title'] };
    expect(await fetchRelated(db, 'users', [3], ['posts'], { schema, allow })).toEqual([{ id: 3, name: 'Edsger', posts: [] }]);
    await expect(fetchRelated(db, 'users', [3], ['comments'], { schema, allow })).rejects.toThrow('not in the allow-list');
    await db.close();
  });
});

describe('sqlTool', () => {
  it('binds named, typed parameters; never takes SQL from the caller', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 2, applicationName: app('tool') });
    const tool = sqlTool(db, {
      name: 'posts_of',
      sql: `SELECT title, :user_id::int AS asked FROM ${schema}.posts WHERE user_id = :user_id AND title <> ':not_a_param' ORDER BY id LIMIT :limit`,
      parameters: { user_id: { type: 'integer' }, limit: { type: 'integer', required: false } },
    });
    expect(tool.inputSchema).toEqual({ type: 'object', properties: { user_id: { type: 'integer' }, limit: { type: 'integer' } }, required: ['user_id'], additionalProperties: false });
    const scheduler = new Scheduler({ tools: [tool] });
    const results = await scheduler.runBatch([
      { tool: 'posts_of', params: { user_id: 1, limit: 1 } },
      { tool: 'posts_of', params: { user_id: '1 OR 1=1' } },
      { tool: 'posts_of', params: {} },
      { tool: 'posts_of', params: { user_id: 1, sql: 'DROP TABLE users' } },
    ]);
    expect(results[0]!.value).toEqual({ rows: [{ title: 'Notes', asked: 1 }], rowCount: 1 });
    expect(results.slice(1).map((r) => r.error)).toEqual([
      { code: 'invalid_params', message: 'Argument "user_id" must be an integer, got string' },
      { code: 'invalid_params', message: 'Missing required argument "user_id" (integer)' },
      { code: 'invalid_params', message: 'Unknown argument "sql"' },
    ]);
    expect(() => sqlTool(db, { name: 'bad', sql: 'SELECT :missing' })).toThrow('uses :missing, which is not a declared parameter');
    await db.close();
  });

  it('leaves comments and quoted text alone: the data comes back as written', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 1, applicationName: app('quoted') });
    const tool = sqlTool(db, {
      name: 'priced',
      sql: "-- note :shrug:\n/* :zzz /* nested :q */ */ SELECT $$price :amount$$ AS note, E'it\\'s :amount' AS e, :amount::int AS v",
      parameters: { amount: { type: 'integer' } },
    });
    const result = await new Scheduler({ tools: [tool] }).run({ tool: 'priced', params: { amount: 5 } });
    expect(result.value).toEqual({ rows: [{ note: 'price :amount', e: "it's :amount", v: 5 }], rowCount: 1 });
    expect(() => sqlTool(db, { name: 'open', sql: "SELECT 'x :a", parameters: { a: { type: 'string' } } })).toThrow(
      'Tool "open": The query has an unterminated quoted string at line 1, column 8',
    );
    await db.close();
  });
});

describe('errors say what happened', () => {
  it('a deadline passed while waiting for a connection: the query was never sent, nothing was cancelled', async () => {
    const db = new PostgresPool({ connectionString: service.url, max: 1, applicationName: app('wait') });
    const holding = db.query('SELECT pg_sleep(0.5)');
    const error = await db.query('SELECT 1', [], { timeoutMs: 50 }).catch((e: unknown) => e as McpConcurrencyError);
    expect(error).toMatchObject({ code: 'timeout' });
    expect((error as Error).message).toContain('No connection was free within 50 ms');
    expect((error as Error).message).not.toContain('cancelled on the server');
    await holding;
    expect(db.stats().cancels).toBe(0);
    await db.close();
  });

  it('a refused connection is reported by its socket error, not as a SQLSTATE', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const db = new PostgresPool({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, max: 1 });
    const error = await db.query('SELECT 1').catch((e: unknown) => e as McpConcurrencyError);
    expect(error).toMatchObject({ code: 'db_error', retryable: true });
    expect((error as Error).message).toMatch(/^Connecting to Postgres failed \(ECONNREFUSED\): /);
    expect((error as Error).message).not.toContain('SQLSTATE');
    await db.close();
  });
});
