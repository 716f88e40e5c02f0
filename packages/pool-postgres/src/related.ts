import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';
import pg from 'pg';
import type { PostgresPool, QueryOptions } from './postgres-pool.js';

export interface RelationSpec {
  readonly table: string;
  /** The column in `table` that points at the entity. @default `<entity>_id`, else `<entity without a trailing s>_id` */
  readonly foreignKey?: string;
}

export interface FetchRelatedOptions extends QueryOptions {
  /** The schema the tables live in. @default 'public' */
  readonly schema?: string;
  /** The entity's key column. @default 'id' */
  readonly key?: string;
  /** Tables and columns that may be named, instead of asking the catalog. @example { users: ['id', 'name'], posts: ['id', 'user_id'] } */
  readonly allow?: Readonly<Record<string, readonly string[]>>;
}

/** An entity row with one array of rows per relation, under the relation's table name. */
export type Related = Record<string, unknown>;

/**
 * The seed's "fetch an entity with its relations concurrently", done safely: every table and column
 * is checked against the catalog (or your allow-list) before anything runs, identifiers are quoted by
 * the driver, ids go in as a parameter. The entity query and one query per relation run at once.
 *
 * @example
 * const users = await fetchRelated(db, 'users', [1, 2, 3], ['posts', { table: 'comments', foreignKey: 'author_id' }]);
 * // [{ id: 1, name: 'Ada', posts: [...], comments: [...] }, ...]
 */
export async function fetchRelated(
  db: PostgresPool,
  entity: string,
  ids: readonly (string | number)[],
  relations: readonly (string | RelationSpec)[],
  options: FetchRelatedOptions = {},
): Promise<Related[]> {
  if (typeof entity !== 'string' || entity === '') throw invalidArgument('entity', 'a table name', entity);
  if (!Array.isArray(ids)) throw invalidArgument('ids', 'an array of ids', ids);
  if (!Array.isArray(relations)) throw invalidArgument('relations', 'an array of table names or { table, foreignKey }', relations);
  const schema = options.schema ?? 'public';
  const key = options.key ?? 'id';
  const specs = relations.map((r, i) => {
    if (typeof r === 'string') return { table: r, foreignKey: undefined };
    if (typeof r === 'object' && r !== null && typeof r.table === 'string') return r;
    throw invalidArgument(`relations[${i}]`, 'a table name or { table, foreignKey }', r);
  });
  const tables = [entity, ...specs.map((s) => s.table)];
  const catalog = options.allow === undefined ? await readCatalog(db, schema, tables, options) : allowList(options.allow);

  const columnsOf = (table: string): ReadonlySet<string> => {
    const columns = catalog.get(table);
    if (columns === undefined) {
      throw new McpConcurrencyError('unknown_identifier', `Unknown table "${table}" in schema "${schema}"${options.allow ? ' (not in the allow-list)' : ''}`);
    }
    return columns;
  };
  const requireColumn = (table: string, column: string): void => {
    if (!columnsOf(table).has(column)) throw new McpConcurrencyError('unknown_identifier', `Unknown column "${column}" in table "${table}"`);
  };
  requireColumn(entity, key);
  const resolved = specs.map((spec) => {
    const columns = columnsOf(spec.table);
    if (spec.foreignKey !== undefined) {
      requireColumn(spec.table, spec.foreignKey);
      return { table: spec.table, foreignKey: spec.foreignKey };
    }
    const candidates = [`${entity}_id`, `${entity.replace(/s$/, '')}_id`];
    const foreignKey = candidates.find((c) => columns.has(c));
    if (foreignKey === undefined) {
      throw new McpConcurrencyError('unknown_identifier', `Table "${spec.table}" has none of the columns ${candidates.map((c) => `"${c}"`).join(', ')}; give { table, foreignKey }`);
    }
    return { table: spec.table, foreignKey };
  });

  const q = (name: string): string => pg.escapeIdentifier(name);
  const table = (name: string): string => `${q(schema)}.${q(name)}`;
  const results = await db.queryMany(
    [
      { sql: `SELECT * FROM ${table(entity)} WHERE ${q(key)} = ANY($1)`, params: [ids] },
      ...resolved.map((r) => ({ sql: `SELECT * FROM ${table(r.table)} WHERE ${q(r.foreignKey)} = ANY($1)`, params: [ids] })),
    ],
    { signal: options.signal },
  );
  const failed = results.find((r) => r.status !== 'ok');
  if (failed !== undefined) {
    throw new McpConcurrencyError(failed.error?.code ?? 'db_error', `fetchRelated: ${failed.error?.message ?? failed.status}`);
  }
  const entities = results[0]!.value!.rows.map((row) => ({ ...row }) as Related);
  const byKey = new Map(entities.map((e) => [String(e[key]), e]));
  resolved.forEach((relation, i) => {
    for (const entityRow of entities) entityRow[relation.table] = [];
    for (const row of results[i + 1]!.value!.rows) {
      (byKey.get(String(row[relation.foreignKey]))?.[relation.table] as unknown[] | undefined)?.push(row);
    }
  });
  return entities;
}

async function readCatalog(db: PostgresPool, schema: string, tables: readonly string[], options: QueryOptions): Promise<Map<string, Set<string>>> {
  const { rows } = await db.query<{ table_name: string; column_name: string }>(
    'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = ANY($2)',
    [schema, [...new Set(tables)]],
    options,
  );
  const catalog = new Map<string, Set<string>>();
  for (const row of rows) {
    let columns = catalog.get(row.table_name);
    if (columns === undefined) catalog.set(row.table_name, (columns = new Set()));
    columns.add(row.column_name);
  }
  return catalog;
}

function allowList(allow: Readonly<Record<string, readonly string[]>>): Map<string, Set<string>> {
  return new Map(Object.entries(allow).map(([table, columns]) => [table, new Set(columns)]));
}
