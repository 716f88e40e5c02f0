import { McpConcurrencyError, type ToolPolicy } from '@mcp-concurrency/core-scheduler';
import {
  checkArguments,
  invalidArgument,
  parametersSchema,
  type DescribedTool,
  type ParameterSpec,
} from '@mcp-concurrency/core-scheduler/plugin';
import { compileNamed, type CompiledQuery } from './placeholders.js';
import type { PostgresPool, QueryRows } from './postgres-pool.js';

export interface SqlToolDefinition {
  readonly name: string;
  readonly description?: string;
  /**
   * A fixed, parameterised query: `:name` placeholders are the declared parameters (they become
   * `$1..$n`). Found with Postgres' lexer rules: nothing in comments, quoted text, dollar quotes,
   * quoted identifiers, `::casts` or array slices is one (see {@link compileNamed}). The caller (a
   * language model) never supplies SQL text.
   * @example 'SELECT id, title FROM posts WHERE user_id = :user_id LIMIT :limit'
   */
  readonly sql: string;
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  readonly policy?: ToolPolicy;
}

/**
 * A `sql` tool for the scheduler and the MCP adapter: the query is fixed at definition time, the
 * call's params are validated against the declared types and passed as bind values.
 * @throws `config_error` when the query uses an undeclared placeholder or its placeholders cannot be
 *   found with certainty (the message gives line and column); `invalid_argument` for a bad definition.
 */
export function sqlTool(db: PostgresPool, definition: SqlToolDefinition): DescribedTool<Record<string, unknown>, QueryRows> {
  if (typeof definition?.name !== 'string' || definition.name === '') throw invalidArgument('name', 'a non-empty string', definition?.name);
  if (typeof definition.sql !== 'string' || definition.sql.trim() === '') throw invalidArgument(`${definition.name}.sql`, 'a non-empty string', definition.sql);
  const parameters = definition.parameters ?? {};
  const { text, order } = compileSqlTool(definition.name, definition.sql, parameters);
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

/**
 * The definition-time check of a `sql` tool, for config loaders that report before anything is built:
 * the query compiled (see {@link compileNamed}) and every placeholder a declared parameter.
 * @throws `config_error` naming the tool, and the line and column in the query where it applies.
 */
export function compileSqlTool(name: string, sql: string, parameters: Readonly<Record<string, ParameterSpec>>): CompiledQuery {
  let compiled: CompiledQuery;
  try {
    compiled = compileNamed(sql);
  } catch (error) {
    throw new McpConcurrencyError('config_error', `Tool "${name}": ${(error as Error).message}`, { cause: error });
  }
  for (const placeholder of compiled.order) {
    if (!(placeholder in parameters)) {
      throw new McpConcurrencyError('config_error', `Tool "${name}": the query uses :${placeholder}, which is not a declared parameter`);
    }
  }
  return compiled;
}
