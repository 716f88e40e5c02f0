import { McpConcurrencyError, type ToolPolicy } from '@mcp-concurrency/core-scheduler';
import {
  checkArguments,
  invalidArgument,
  parametersSchema,
  type DescribedTool,
  type ParameterSpec,
} from '@mcp-concurrency/core-scheduler/plugin';
import type { PostgresPool, QueryRows } from './postgres-pool.js';

export interface SqlToolDefinition {
  readonly name: string;
  readonly description?: string;
  /**
   * A fixed, parameterised query: `:name` placeholders are the declared parameters (they become
   * `$1..$n`; `::casts` are left alone). The caller (a language model) never supplies SQL text.
   * @example 'SELECT id, title FROM posts WHERE user_id = :user_id LIMIT :limit'
   */
  readonly sql: string;
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  readonly policy?: ToolPolicy;
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
  return {
    name: definition.name,
    description: definition.description ?? `Runs a fixed SQL query (${definition.name})`,
    inputSchema: parametersSchema(parameters),
    policy: definition.policy,
    run: (params, ctx) => {
      const input = checkArguments(parameters, params);
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
