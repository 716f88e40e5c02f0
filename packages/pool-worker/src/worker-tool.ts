import { type ToolPolicy } from '@mcp-concurrency/core-scheduler';
import {
  checkArguments,
  checkNonEmptyString,
  invalidArgument,
  parametersSchema,
  type DescribedTool,
  type ParameterSpec,
} from '@mcp-concurrency/core-scheduler/plugin';
import { moduleHref } from './module-href.js';
import type { WorkerPool } from './worker-pool.js';

export interface WorkerToolDefinition {
  /** The tool's name, as the scheduler and MCP list it. @example 'sha256' */
  readonly name: string;
  /** @default `Runs <export> of <module> on a worker thread` */
  readonly description?: string;
  /** The ES module holding the function: an absolute path or a `file:` URL. @example new URL('./hash.mjs', import.meta.url) */
  readonly module: string | URL;
  /** The exported function: called as `fn(args, { callId, attempt })`, sync or async. @default 'default' */
  readonly export?: string;
  /** Declared arguments; a call's arguments are checked against them before they cross to the worker. @default none */
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  /** Limits and deadline for the scheduler. Name the pool's `limiter` in `limiters` to queue in the scheduler. */
  readonly policy?: ToolPolicy;
}

/**
 * A tool whose `run` calls an exported function of a module on one of `pool`'s worker threads, with
 * structured-clone arguments and result. Resolves once the module has loaded in a worker and the
 * export is a function: a missing module or export fails here with `config_error`, not at the first
 * call. The call's signal (deadline, cancellation) terminates the worker if the function is running.
 */
export async function workerTool(
  pool: WorkerPool,
  definition: WorkerToolDefinition,
  options: { readonly signal?: AbortSignal } = {},
): Promise<DescribedTool<Record<string, unknown>, unknown>> {
  if (typeof definition !== 'object' || definition === null) throw invalidArgument('definition', 'an object', definition);
  const name = checkNonEmptyString('name', definition.name);
  const module = moduleHref(`${name}.module`, definition.module);
  const exportName = definition.export === undefined ? 'default' : checkNonEmptyString(`${name}.export`, definition.export);
  const parameters = definition.parameters ?? {};
  await pool.check(module, exportName, options);
  return {
    name,
    description: definition.description ?? `Runs ${exportName} of ${module.slice(module.lastIndexOf('/') + 1)} on a worker thread`,
    inputSchema: parametersSchema(parameters),
    policy: definition.policy,
    run: (params, ctx) => pool.run(module, exportName, checkArguments(parameters, params), { signal: ctx.signal, callId: ctx.callId, attempt: ctx.attempt }),
  };
}
