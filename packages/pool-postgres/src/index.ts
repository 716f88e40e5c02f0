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
export { sqlTool, compileNamed, type SqlToolDefinition, type SqlParameter, type SqlParameterType, type DescribedTool } from './sql-tool.js';
export { toDbError } from './pg-errors.js';
