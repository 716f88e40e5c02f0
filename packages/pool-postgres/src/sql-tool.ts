import { invalidArgument, McpConcurrencyError, type Tool, type ToolPolicy } from '@mcp-concurrency/core-scheduler';
import type { PostgresPool, QueryRows } from './postgres-pool.js';

export type SqlParameterType = 'string' | 'number' | 'integer' | 'boolean' | 'array';

export interface SqlParameter {
  readonly type: SqlParameterType;
  /** @default true */
  readonly required?: boolean;
  readonly description?: string;
}

export interface SqlToolDefinition {
  readonly name: string;
  readonly description?: string;
  /**
   * A fixed, parameterised query: `:name` placeholders are the declared parameters (they become
   * `$1..$n`; `::casts` are left alone). The caller (a language model) never supplies SQL text.
   * @example 'SELECT id, title FROM posts WHERE user_id = :user_id LIMIT :limit'
   */
  readonly sql: string;
  readonly parameters?: Readonly<Record<string, SqlParameter>>;
  readonly policy?: ToolPolicy;
}

/** A tool with what an MCP server needs to list it. */
export interface DescribedTool<P = unknown, R = unknown> extends Tool<P, R> {
  readonly description: string;
  readonly inputSchema: { readonly type: 'object'; readonly properties: Record<string, unknown>; readonly required: string[] };
}

/**
 * A `sql` tool for the scheduler and the MCP adapter: the query is fixed at definition time, the
 * call's params are validated against the declared types and passed as bind values.
 */
export function sqlTool(db: PostgresPool, definition: SqlToolDefinition): DescribedTool<Record<string, unknown>, QueryRows> {
  if (typeof definition?.name !== 'string' || definition.name === '') throw invalidArgument('name', 'a non-empty string', definition?.name);
  if (typeof definition.sql !== 'string' || definition.sql.trim() === '') throw invalidArgument(`${definition.name}.sql`, 'a non-empty string', definition.sql);
  const parameters = definition.parameters ?? {};
  const { text, order } = compileNamed(definition.sql);
  for (const name of order) {
    if (!(name in parameters)) {
      throw new McpConcurrencyError('config_error', `Tool "${definition.name}": the query uses :${name}, which is not a declared parameter`);
    }
  }
  const required = Object.entries(parameters).filter(([, p]) => p.required !== false).map(([n]) => n);
  return {
    name: definition.name,
    description: definition.description ?? `Runs a fixed SQL query (${definition.name})`,
    inputSchema: {
      type: 'object',
      properties: Object.fromEntries(Object.entries(parameters).map(([n, p]) => [n, jsonSchemaOf(p)])),
      required,
    },
    policy: definition.policy,
    run: (params, ctx) => {
      const input = (params ?? {}) as Record<string, unknown>;
      if (typeof input !== 'object' || Array.isArray(input)) throw new McpConcurrencyError('invalid_params', 'Expected the arguments to be an object');
      for (const [name, spec] of Object.entries(parameters)) checkParam(name, spec, input[name]);
      const unknown = Object.keys(input).filter((k) => !(k in parameters));
      if (unknown.length > 0) throw new McpConcurrencyError('invalid_params', `Unknown argument ${unknown.map((k) => `"${k}"`).join(', ')}`);
      return db.query(text, order.map((n) => input[n] ?? null), { signal: ctx.signal });
    },
  };
}

/** `:name` -> `$n` outside string literals, quoted identifiers and `::casts`. */
export function compileNamed(sql: string): { text: string; order: string[] } {
  const order: string[] = [];
  let text = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      text += sql.slice(i, stop);
      i = stop;
    } else if (ch === ':' && sql[i + 1] === ':') {
      text += '::';
      i += 2;
    } else if (ch === ':' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))!;
      const name = match[0];
      let index = order.indexOf(name);
      if (index < 0) index = order.push(name) - 1;
      text += `$${index + 1}`;
      i += 1 + name.length;
    } else {
      text += ch;
      i++;
    }
  }
  return { text, order };
}

function jsonSchemaOf(p: SqlParameter): Record<string, unknown> {
  const schema: Record<string, unknown> = { type: p.type };
  if (p.description) schema['description'] = p.description;
  return schema;
}

function checkParam(name: string, spec: SqlParameter, value: unknown): void {
  if (value === undefined || value === null) {
    if (spec.required !== false) throw new McpConcurrencyError('invalid_params', `Missing required argument "${name}" (${spec.type})`);
    return;
  }
  const ok =
    spec.type === 'array' ? Array.isArray(value)
    : spec.type === 'integer' ? Number.isInteger(value)
    : spec.type === 'number' ? typeof value === 'number' && Number.isFinite(value)
    : typeof value === spec.type;
  if (!ok) throw new McpConcurrencyError('invalid_params', `Argument "${name}" must be ${spec.type === 'integer' ? 'an integer' : `a ${spec.type}`}, got ${Array.isArray(value) ? 'array' : typeof value}`);
}
