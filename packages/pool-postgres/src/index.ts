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
export { sqlTool, compileNamed, type SqlToolDefinition } from './sql-tool.js';
export { toDbError } from './pg-errors.js';
