/** Dependency graphs: checked before anything runs (ids, dependencies, cycles), then each call submitted once its dependencies settle. */
import { describeThrown, isErrorCode, McpConcurrencyError } from './errors.js';
import { isCoded } from './outcome.js';
import type { ToolCall, ToolResult } from './types.js';
import { invalidArgument, showValue } from './validate.js';

/** The graph as indexes: who each call waits for and who waits for it. */
interface Plan {
  /** Each call as read once, at planning (a plain copy: no getter of the caller's runs again). */
  readonly calls: ToolCall[];
  readonly ids: string[];
  readonly waitsFor: number[][];
  readonly dependents: number[][];
}

/**
 * Checks a graph before anything runs: every call an object with a tool, ids unique, every
 * dependency known, no cycle. Throws `invalid_graph` naming the problem (`a -> b -> a`).
 */
export function planGraph(given: readonly ToolCall[]): Plan {
  if (!Array.isArray(given)) throw invalidArgument('calls', 'an array of tool calls', given);
  const calls: ToolCall[] = [];
  for (let i = 0; i < given.length; i++) {
    const call: unknown = given[i];
    if (typeof call !== 'object' || call === null) throw new McpConcurrencyError('invalid_graph', `calls[${i}] is not a tool call (an object with a string \`tool\`)`);
    try {
      calls.push({ ...(call as ToolCall) });
    } catch (error) {
      throw new McpConcurrencyError('invalid_graph', `calls[${i}] could not be read: ${describeThrown(error)}`, { cause: error });
    }
  }
  const ids: string[] = [];
  const index = new Map<string, number>();
  calls.forEach((call, i) => {
    if (typeof call.tool !== 'string') {
      throw new McpConcurrencyError('invalid_graph', `calls[${i}] is not a tool call (an object with a string \`tool\`)`);
    }
    if (call.id !== undefined && typeof call.id !== 'string') {
      throw new McpConcurrencyError('invalid_graph', `calls[${i}].id must be a string, got ${showValue(call.id)}`);
    }
    const id = call.id ?? String(i);
    const seen = index.get(id);
    if (seen !== undefined) throw new McpConcurrencyError('invalid_graph', `Duplicate call id ${showId(id)} (calls[${seen}] and calls[${i}])`);
    index.set(id, i);
    ids.push(id);
  });
  const waitsFor: number[][] = calls.map(() => []);
  const dependents: number[][] = calls.map(() => []);
  calls.forEach((call, i) => {
    const deps = call.dependsOn ?? [];
    if (!Array.isArray(deps)) throw new McpConcurrencyError('invalid_graph', `calls[${i}].dependsOn must be an array of ids`);
    deps.forEach((dep: unknown, k) => {
      if (typeof dep !== 'string') {
        throw new McpConcurrencyError('invalid_graph', `calls[${i}].dependsOn[${k}] must be a string call id, got ${showValue(dep)}`);
      }
    });
    for (const dep of new Set(deps)) {
      const j = index.get(dep);
      if (j === undefined) {
        throw new McpConcurrencyError('invalid_graph', `Call ${showId(ids[i]!)} depends on unknown id ${showId(dep)}`);
      }
      waitsFor[i]!.push(j);
      dependents[j]!.push(i);
    }
  });
  const cycle = findCycle(waitsFor);
  if (cycle !== undefined) {
    throw new McpConcurrencyError('invalid_graph', describeCycle(cycle.map((i) => ids[i]!)));
  }
  return { calls, ids, waitsFor, dependents };
}

/** Ids longer than this are cut in messages; a message is read by a model and a person. */
const MAX_ID_CHARS = 40;
/** A cycle longer than this many calls is shown by its first and last few. */
const MAX_CYCLE_SHOWN = 8;

function showId(id: string): string {
  return JSON.stringify(id.length > MAX_ID_CHARS ? `${id.slice(0, MAX_ID_CHARS - 3)}...` : id);
}

/**
 * `Dependency cycle: a -> c -> b -> a`; a long one as `Dependency cycle of 20000 calls: c0 -> c1 -> ...
 * (19993 more) ... -> c19999 -> c0`, so the message stays a few hundred characters whatever the graph.
 */
function describeCycle(path: readonly string[]): string {
  const calls = path.length - 1;
  const show = (part: readonly string[]): string => part.map((id) => (id.length > MAX_ID_CHARS ? showId(id) : id)).join(' -> ');
  if (path.length <= MAX_CYCLE_SHOWN + 1) return `Dependency cycle: ${show(path)}`;
  const head = path.slice(0, MAX_CYCLE_SHOWN / 2);
  const tail = path.slice(path.length - MAX_CYCLE_SHOWN / 2);
  return `Dependency cycle of ${calls} calls: ${show(head)} -> ... (${calls - MAX_CYCLE_SHOWN + 1} more) ... -> ${show(tail)}`;
}

/** A cycle as a path that ends where it starts, or undefined. Iterative DFS: deep graphs do not overflow the stack. */
function findCycle(edges: number[][]): number[] | undefined {
  const state = new Uint8Array(edges.length); // 0 new, 1 on the path, 2 done
  for (let root = 0; root < edges.length; root++) {
    if (state[root] !== 0) continue;
    const path: number[] = [root];
    const cursor: number[] = [0];
    state[root] = 1;
    while (path.length > 0) {
      const node = path[path.length - 1]!;
      const next = edges[node]![cursor[cursor.length - 1]!++];
      if (next === undefined) {
        state[node] = 2;
        path.pop();
        cursor.pop();
      } else if (state[next] === 1) {
        return [...path.slice(path.indexOf(next)), next];
      } else if (state[next] === 0) {
        state[next] = 1;
        path.push(next);
        cursor.push(0);
      }
    }
  }
  return undefined;
}

/**
 * Runs a planned graph: each call is submitted the moment its own dependencies have settled.
 * A dependency that did not settle `ok` skips its dependents (unless `runOnFailedDependency`),
 * and the skip cascades. Results come back in input order.
 */
export function runGraph(
  given: readonly ToolCall[],
  run: (call: ToolCall) => Promise<ToolResult>,
  emitSkipped: (result: ToolResult, call: ToolCall) => void,
): Promise<ToolResult[]> {
  let plan: Plan;
  try {
    plan = planGraph(given);
  } catch (error) {
    // A call whose fields throw when read is refused like any malformed graph.
    if (isCoded(error)) return Promise.reject(error);
    return Promise.reject(new McpConcurrencyError('invalid_graph', `A call could not be read: ${describeThrown(error)}`, { cause: error }));
  }
  const { calls, ids, waitsFor, dependents } = plan;
  const results = new Array<ToolResult>(calls.length);
  const remaining = waitsFor.map((deps) => deps.length);
  const failedDependency = new Array<number | undefined>(calls.length);
  let open = calls.length;
  if (open === 0) return Promise.resolve(results);

  return new Promise((resolve) => {
    const settled = (i: number, result: ToolResult): void => {
      results[i] = result;
      const failed = result.status !== 'ok';
      for (const j of dependents[i]!) {
        if (failed && failedDependency[j] === undefined && calls[j]!.runOnFailedDependency !== true) failedDependency[j] = i;
        remaining[j]! -= 1;
        if (remaining[j] === 0) submit(j);
      }
      if (--open === 0) resolve(results);
    };

    const submit = (i: number): void => {
      const call = calls[i]!;
      const failed = failedDependency[i];
      if (failed !== undefined) {
        const cause = results[failed]!;
        const why = cause.error === undefined ? cause.status : `${cause.status}: ${cause.error.code}`;
        const result = fixed(call, ids[i]!, 'skipped', 'dependency_failed', `Skipped: dependency "${ids[failed]}" settled as ${why}`);
        emitSkipped(result, call);
        settled(i, result);
        return;
      }
      let params: unknown = call.params;
      if (call.paramsFrom !== undefined) {
        // No prototype: an id like "__proto__" is a key like any other.
        const inputs = Object.create(null) as Record<string, ToolResult>;
        for (const j of waitsFor[i]!) inputs[ids[j]!] = results[j]!;
        try {
          params = call.paramsFrom(inputs);
        } catch (error) {
          // An `invalid_params` error is the arguments' own verdict (a validator in paramsFrom): kept as it is.
          const message = isErrorCode(error, 'invalid_params') ? error.message : `paramsFrom failed: ${describeThrown(error)}`;
          const result = fixed(call, ids[i]!, 'error', 'invalid_params', message);
          emitSkipped(result, call);
          settled(i, result);
          return;
        }
      }
      let pending: Promise<ToolResult>;
      try {
        pending = run({ ...call, id: ids[i]!, params });
      } catch (error) {
        // Never expected (submission settles what it refuses), but a graph must settle whatever happens.
        pending = Promise.resolve(fixed(call, ids[i]!, 'error', 'invalid_params', `The call could not be submitted: ${describeThrown(error)}`));
      }
      void pending.then((result) => settled(i, result));
    };

    // The roots first, then submit: a root that settles at once (a skip, a refused argument) may bring a
    // later call's count to 0 and submit it; the loop must not submit that call a second time.
    const roots = remaining.flatMap((count, i) => (count === 0 ? [i] : []));
    for (const i of roots) submit(i);
  });
}

function fixed(call: ToolCall, id: string, status: ToolResult['status'], code: 'dependency_failed' | 'invalid_params', message: string): ToolResult {
  return { id, tool: call.tool, status, value: undefined, error: { code, message }, queuedMs: 0, runMs: 0, attempts: 0 };
}
