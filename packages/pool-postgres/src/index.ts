export {
  PostgresPool,
  type PostgresPoolOptions,
  type PostgresPoolStats,
  type QueryOptions,
  type QueryRows,
  type QuerySpec,
  type Transaction,
} from './postgres-pool.js';
export { fetchRelated, type FetchRelatedOptions, type RelationSpec, type Related } from './related.js';
export { sqlTool, compileSqlTool, type SqlToolDefinition } from './sql-tool.js';
export { compileNamed, type CompiledQuery } from './placeholders.js';
export { toDbError } from './pg-errors.js';
