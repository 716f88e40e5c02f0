import { McpConcurrencyError, Scheduler, type CloseOptions, type Lifecycle, type ToolResult } from '@mcp-concurrency/core-scheduler';
import {
  abortReason,
  checkFunction,
  checkPositive,
  checkPositiveInteger,
  checkSignal,
  closedError,
  invalidArgument,
  LifecycleState,
} from '@mcp-concurrency/core-scheduler/plugin';
import pg from 'pg';
import { sendCancelRequest } from './cancel-request.js';
import { toDbError } from './pg-errors.js';

export interface PostgresPoolOptions {
  /** A pool you own. When absent, one is built from `connectionString` and the options below (and ended by `close()`). */
  readonly pool?: pg.Pool;
  /** @example 'postgres://app@127.0.0.1:5432/app' */
  readonly connectionString?: string;
  /** Connections in the built pool. @default 10 */
  readonly max?: number;
  /** How long to wait for a new connection. @default 5_000 */
  readonly connectionTimeoutMillis?: number;
  /** @default 30_000 */
  readonly idleTimeoutMillis?: number;
  /** Shown in pg_stat_activity. @default 'mcp-concurrency' */
  readonly applicationName?: string;
  /** Deadline of every query unless the call gives its own; the query is cancelled on the server. @default 30_000 */
  readonly timeoutMs?: number;
  /** Run every query in a READ ONLY transaction: for tools a language model drives. @default false */
  readonly readOnly?: boolean;
  /** How long a cancelled query may take to stop before its connection is destroyed. @default 1_000 */
  readonly cancelGraceMs?: number;
  /** Queries running at once through `queryMany()`. @default the pool's max */
  readonly maxParallel?: number;
  /** Called on errors of idle connections (the pool's 'error' event), which would otherwise crash the process. */
  readonly onError?: (error: Error) => void;
  /**
   * Called for each statement of `query()` and of a transaction's `tx.query()`, in the context it is
   * made in: a SQL block comment to append, e.g. `sqlTraceComment()` of tracing-opentelemetry, which
   * carries trace context (`traceparent='…'`, the sqlcommenter form) to the server's logs. Anything
   * but one well-formed block comment (nothing nested inside it) is ignored, as is a hook that
   * throws. @default none
   */
  readonly sqlComment?: () => string;
}

export interface QueryOptions {
  readonly signal?: AbortSignal;
  /** Overrides the pool's `timeoutMs`. */
  readonly timeoutMs?: number;
}

export interface QueryRows<R = Record<string, unknown>> {
  readonly rows: R[];
  readonly rowCount: number;
}

export interface QuerySpec {
  readonly sql: string;
  readonly params?: readonly unknown[];
}

export interface PostgresPoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
  readonly running: number;
  readonly cancels: number;
  readonly errors: number;
}

/** What `transaction()` hands your function: queries on one connection, inside the transaction. */
export interface Transaction {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryRows<R>>;
}

const QUERY_TOOL = 'postgres.query';

/**
 * Concurrent Postgres queries on node-postgres, really cancelled: a deadline or an aborted signal
 * sends a CancelRequest to the server, and a connection that does not come back clean is destroyed
 * instead of returned to the pool.
 *
 * @example
 * const db = new PostgresPool({ connectionString: process.env.DATABASE_URL, max: 10 });
 * const { rows } = await db.query('select * from users where id = $1', [7], { signal, timeoutMs: 2_000 });
 * const results = await db.queryMany([{ sql: 'select 1' }, { sql: 'select 2' }]);
 */
export class PostgresPool implements Lifecycle {
  readonly pool: pg.Pool;
  readonly #owned: boolean;
  readonly #timeoutMs: number;
  readonly #readOnly: boolean;
  readonly #cancelGraceMs: number;
  readonly #scheduler: Scheduler;
  readonly #onPoolError: (error: Error) => void;
  readonly #sqlComment: (() => string) | undefined;
  #running = 0;
  #cancels = 0;
  #errors = 0;
  /** The cancellation of every query or transaction in flight: what `destroy()` aborts. */
  readonly #inFlight = new Set<Cancellation>();
  #onIdle: (() => void)[] = [];
  readonly #lifecycle = new LifecycleState({
    idle: async () => {
      await this.#scheduler.close();
      await this.#settled();
    },
    abort: async (reason) => {
      const cause = reason === undefined ? {} : { cause: reason };
      const error = new McpConcurrencyError('closed', 'The Postgres pool was destroyed while this query ran; it was cancelled on the server', cause);
      for (const cancel of this.#inFlight) cancel.abort(error);
      await this.#scheduler.destroy(reason);
      // Each cancelled statement stops, or has its connection destroyed, within cancelGraceMs.
      await this.#settled();
    },
    end: async () => {
      if (this.#owned) await this.pool.end();
      this.pool.off('error', this.#onPoolError);
    },
  });

  constructor(options: PostgresPoolOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    if (options.pool === undefined && typeof options.connectionString !== 'string') {
      throw invalidArgument('connectionString', 'a postgres:// URL when no `pool` is given', options.connectionString);
    }
    const max = options.max === undefined ? 10 : checkPositiveInteger('max', options.max);
    this.#timeoutMs = options.timeoutMs === undefined ? 30_000 : checkPositive('timeoutMs', options.timeoutMs, true);
    this.#cancelGraceMs = options.cancelGraceMs === undefined ? 1_000 : checkPositive('cancelGraceMs', options.cancelGraceMs);
    this.#readOnly = options.readOnly ?? false;
    if (options.sqlComment !== undefined) checkFunction('sqlComment', options.sqlComment);
    this.#sqlComment = options.sqlComment;
    this.#owned = options.pool === undefined;
    this.pool =
      options.pool ??
      new pg.Pool({
        connectionString: options.connectionString,
        max,
        connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
        idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
        application_name: options.applicationName ?? 'mcp-concurrency',
      });
    this.#onPoolError = (error) => {
      // An idle connection dropped (server restart, pg_terminate_backend): the pool discards it.
      this.#errors++;
      options.onError?.(error);
    };
    this.pool.on('error', this.#onPoolError);
    const poolMax = (this.pool.options as { max?: number }).max ?? max;
    const maxParallel = options.maxParallel === undefined ? poolMax : checkPositiveInteger('maxParallel', options.maxParallel);
    this.#scheduler = new Scheduler({
      maxParallel,
      // The batch's own signal goes straight to the query (the scheduler adds no deadline here), so no
      // per-call AbortController is made for ctx.signal.
      tools: [{ name: QUERY_TOOL, run: (spec: QuerySpec & { signal?: AbortSignal }) => this.query(spec.sql, spec.params ?? [], { signal: spec.signal }) }],
    });
  }

  /** Pool counts for metrics (e.g. `metrics.addPool('pg', () => db.stats())`). */
  stats(): PostgresPoolStats {
    return {
      total: this.pool.totalCount,
      idle: this.pool.idleCount,
      waiting: this.pool.waitingCount,
      running: this.#running,
      cancels: this.#cancels,
      errors: this.#errors,
    };
  }

  /** One parameterised query. Rejects with `timeout`, `cancelled` or `db_error` (SQLSTATE kept). */
  async query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = [], options: QueryOptions = {}): Promise<QueryRows<R>> {
    if (typeof sql !== 'string' || sql.trim() === '') throw invalidArgument('sql', 'a non-empty string', sql);
    if (!Array.isArray(params)) throw invalidArgument('params', 'an array of values', params);
    sql = this.#commented(sql);
    return this.#withClient(options, async (client, cancel) => {
      if (!this.#readOnly) return this.#run<R>(client, sql, params, cancel);
      await this.#run(client, 'BEGIN READ ONLY', [], cancel);
      try {
        const result = await this.#run<R>(client, sql, params, cancel);
        await this.#run(client, 'COMMIT', [], cancel);
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  /**
   * Many queries at once, bounded by the pool (and `maxParallel`); one result per query in input
   * order, a failure in one not affecting the others.
   */
  queryMany(queries: readonly QuerySpec[], options: { readonly signal?: AbortSignal } = {}): Promise<ToolResult<QueryRows>[]> {
    if (!Array.isArray(queries)) return Promise.reject(invalidArgument('queries', 'an array of { sql, params }', queries));
    return this.#scheduler.runBatch(
      queries.map((spec, i) => ({ id: String(i), tool: QUERY_TOOL, params: { sql: spec?.sql, params: spec?.params, signal: options.signal } })),
      options,
    ) as Promise<ToolResult<QueryRows>[]>;
  }

  /**
   * Runs `fn` in a transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws or
   * the signal aborts (the running statement is cancelled on the server first).
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: QueryOptions & { readonly readOnly?: boolean } = {}): Promise<T> {
    return this.#withClient(options, async (client, cancel) => {
      await this.#run(client, options.readOnly || this.#readOnly ? 'BEGIN READ ONLY' : 'BEGIN', [], cancel);
      try {
        const value = await fn({ query: (sql, params = []) => this.#run(client, this.#commented(sql), params, cancel) });
        await this.#run(client, 'COMMIT', [], cancel);
        return value;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  /**
   * Refuses new queries (code `closed`) and lets the ones in flight finish; when `graceMs` elapses or
   * `signal` aborts, does what `destroy()` does. Then ends the pool if this object built it. Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /**
   * Cancels every query in flight on the server now (they reject with code `closed`, `reason` as the
   * cause), then ends the pool if this object built it. Idempotent.
   */
  destroy(reason?: unknown): Promise<void> {
    return this.#lifecycle.destroy(reason);
  }

  /** Resolves once no query or transaction is in flight. */
  #settled(): Promise<void> {
    if (this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onIdle.push(resolve));
  }

  /** Checks out a client under a deadline and the caller's signal; destroys it when it may be dirty. */
  async #withClient<T>(options: QueryOptions, work: (client: pg.PoolClient, cancel: Cancellation) => Promise<T>): Promise<T> {
    checkSignal('signal', options.signal);
    if (this.#lifecycle.closed) throw closedError('The Postgres pool');
    const timeoutMs = options.timeoutMs === undefined ? this.#timeoutMs : checkPositive('timeoutMs', options.timeoutMs, true);
    // A plain object, not an AbortController: this runs once per query and must stay cheap.
    const cancel = new Cancellation();
    const timer =
      timeoutMs === Infinity
        ? undefined
        : setTimeout(() => cancel.abort(timeoutError(timeoutMs, cancel.running)), timeoutMs);
    const outer = options.signal;
    const forward = outer === undefined ? undefined : (): void => cancel.abort(callerError(outer));
    if (outer?.aborted) forward!();
    else if (forward !== undefined) outer!.addEventListener('abort', forward, { once: true });
    this.#inFlight.add(cancel);
    try {
      const client = await this.#connect(cancel);
      let destroy: Error | undefined;
      try {
        return await work(client, cancel);
      } catch (error) {
        if ((error as { destroyConnection?: boolean }).destroyConnection) destroy = error as Error;
        throw error;
      } finally {
        client.release(destroy);
      }
    } finally {
      clearTimeout(timer);
      if (forward !== undefined) outer!.removeEventListener('abort', forward);
      this.#inFlight.delete(cancel);
      if (this.#inFlight.size === 0) for (const resolve of this.#onIdle.splice(0)) resolve();
    }
  }

  /** `pool.connect()` cannot be aborted: on abort we stop waiting and hand the client back when it comes. */
  #connect(cancel: Cancellation): Promise<pg.PoolClient> {
    if (cancel.reason !== undefined) return Promise.reject(cancel.error());
    return new Promise((resolve, reject) => {
      cancel.listen(() => reject(cancel.error()));
      this.pool.connect().then(
        (client) => {
          cancel.listen(undefined);
          if (cancel.reason !== undefined) client.release();
          else resolve(client);
        },
        (error: unknown) => {
          cancel.listen(undefined);
          reject(toDbError(error, 'Connecting to Postgres'));
        },
      );
    });
  }

  /** `sql` with the `sqlComment` hook's comment appended, when it gives a well-formed one. */
  #commented(sql: string): string {
    if (this.#sqlComment === undefined) return sql;
    let comment: unknown;
    try {
      comment = this.#sqlComment();
    } catch {
      return sql;
    }
    if (typeof comment !== 'string' || comment.length < 4 || !comment.startsWith('/*') || !comment.endsWith('*/')) return sql;
    const inner = comment.slice(2, -2);
    // Postgres nests block comments: an inner `/*` would leave the comment open and swallow the rest.
    if (inner.includes('*/') || inner.includes('/*') || inner.includes('\0')) return sql;
    return `${sql} ${comment}`;
  }

  /** One statement on a checked-out client; on abort, a CancelRequest, and a dirty connection is marked for destruction. */
  async #run<R>(client: pg.PoolClient, sql: string, params: readonly unknown[], cancel: Cancellation): Promise<QueryRows<R>> {
    if (cancel.reason !== undefined) throw cancel.error();
    cancel.running = true;
    this.#running++;
    // Text and values as arguments, not a config object: pg clones config objects on every call.
    const pending = params.length === 0 ? client.query(sql) : client.query(sql, params as unknown[]);
    let stuck: ReturnType<typeof setTimeout> | undefined;
    cancel.listen(() => {
      this.#cancels++;
      // A CancelRequest on a separate socket: the server stops the statement and the connection stays usable.
      // If it cannot be sent, the grace timer below destroys the connection instead.
      sendCancelRequest(client).catch(() => {});
      stuck = setTimeout(() => {
        // The server did not stop in time: drop the socket; the pool replaces the connection.
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }, this.#cancelGraceMs);
    });
    try {
      const result = await pending;
      if (cancel.reason !== undefined) throw cancel.error();
      return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
    } catch (error) {
      if (cancel.reason !== undefined) {
        const reason = cancel.error();
        // 57014: the server cancelled it and the connection is clean. Anything else: do not reuse it.
        if ((error as { code?: unknown }).code !== '57014' && !(error instanceof McpConcurrencyError)) Object.assign(reason, { destroyConnection: true });
        throw reason;
      }
      const dbError = toDbError(error, 'Query');
      if (dbError.retryable) Object.assign(dbError, { destroyConnection: true });
      throw dbError;
    } finally {
      clearTimeout(stuck);
      cancel.listen(undefined);
      this.#running--;
    }
  }
}

/** Why a query stops early (deadline or caller), and the one thing to do about it now. */
class Cancellation {
  reason: McpConcurrencyError | undefined;
  /** False while the query waits for a connection: nothing is on the server to cancel yet. */
  running = false;
  #listener: (() => void) | undefined;

  abort(reason: McpConcurrencyError): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.#listener?.();
  }

  /** One listener at a time: a client waits for a connection, then runs one statement after another. */
  listen(listener: (() => void) | undefined): void {
    this.#listener = listener;
  }

  /** A fresh error per throw: one call may throw it from several places. */
  error(): McpConcurrencyError {
    const reason = this.reason!;
    return new McpConcurrencyError(reason.code, reason.message, { cause: reason.cause });
  }
}

/** What a deadline says depends on where it struck: a statement cancelled on the server, or no connection yet. */
function timeoutError(timeoutMs: number, running: boolean): McpConcurrencyError {
  return running
    ? new McpConcurrencyError('timeout', `The query did not finish within ${timeoutMs} ms; it was cancelled on the server`)
    : new McpConcurrencyError('timeout', `No connection was free within ${timeoutMs} ms; the query was never sent (raise \`max\` or \`timeoutMs\`)`);
}

/** The caller's abort as the project's error: its own code when it is one, else `cancelled`. */
function callerError(signal: AbortSignal): McpConcurrencyError {
  const reason = abortReason(signal);
  if (reason instanceof McpConcurrencyError) return reason;
  return new McpConcurrencyError('cancelled', 'The query was cancelled by the caller', { cause: reason });
}
