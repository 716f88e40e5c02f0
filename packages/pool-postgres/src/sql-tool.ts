import {
  checkArguments,
  invalidArgument,
  McpConcurrencyError,
  parametersSchema,
  type DescribedTool,
  type ParameterSpec,
  type ToolPolicy,
} from '@mcp-concurrency/core-scheduler';
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
  let compiled: CompiledQuery;
  try {
    compiled = compileNamed(definition.sql);
  } catch (error) {
    throw new McpConcurrencyError('config_error', `Tool "${definition.name}": ${(error as Error).message}`, { cause: error });
  }
  const { text, order } = compiled;
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
