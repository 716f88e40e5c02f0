import { describeThrown, McpConcurrencyError } from './errors.js';
import type { ToolCall, ToolResult } from './types.js';
import { invalidArgument } from './validate.js';

/** The graph as indexes: who each call waits for and who waits for it. */
interface Plan {
  readonly ids: string[];
  readonly waitsFor: number[][];
  readonly dependents: number[][];
}

/**
 * Checks a graph before anything runs: every call an object with a tool, ids unique, every
 * dependency known, no cycle. Throws `invalid_graph` naming the problem (`a -> b -> a`).
 */
export function planGraph(calls: readonly ToolCall[]): Plan {
  if (!Array.isArray(calls)) throw invalidArgument('calls', 'an array of tool calls', calls);
  const ids: string[] = [];
  const index = new Map<string, number>();
  calls.forEach((call, i) => {
    if (typeof call !== 'object' || call === null || typeof call.tool !== 'string') {
      throw new McpConcurrencyError('invalid_graph', `calls[${i}] is not a tool call (an object with a string \`tool\`)`);
    }
    const id = call.id ?? String(i);
    const seen = index.get(id);
    if (seen !== undefined) throw new McpConcurrencyError('invalid_graph', `Duplicate call id "${id}" (calls[${seen}] and calls[${i}])`);
    index.set(id, i);
    ids.push(id);
  });
  const waitsFor: number[][] = calls.map(() => []);
  const dependents: number[][] = calls.map(() => []);
  calls.forEach((call, i) => {
    const deps = call.dependsOn ?? [];
    if (!Array.isArray(deps)) throw new McpConcurrencyError('invalid_graph', `calls[${i}].dependsOn must be an array of ids`);
    for (const dep of new Set(deps)) {
      const j = index.get(dep);
      if (j === undefined) {
        throw new McpConcurrencyError('invalid_graph', `Call "${ids[i]}" depends on unknown id "${String(dep)}"`);
      }
      waitsFor[i]!.push(j);
      dependents[j]!.push(i);
    }
  });
  const cycle = findCycle(waitsFor);
  if (cycle !== undefined) {
    throw new McpConcurrencyError('invalid_graph', `Dependency cycle: ${cycle.map((i) => ids[i]).join(' -> ')}`);
  }
  return { ids, waitsFor, dependents };
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
  calls: readonly ToolCall[],
  run: (call: ToolCall) => Promise<ToolResult>,
  emitSkipped: (result: ToolResult, call: ToolCall) => void,
): Promise<ToolResult[]> {
  let plan: Plan;
  try {
    plan = planGraph(calls);
  } catch (error) {
    return Promise.reject(error);
  }
  const { ids, waitsFor, dependents } = plan;
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
        const inputs: Record<string, ToolResult> = {};
        for (const j of waitsFor[i]!) inputs[ids[j]!] = results[j]!;
        try {
          params = call.paramsFrom(inputs);
        } catch (error) {
          const result = fixed(call, ids[i]!, 'error', 'invalid_params', `paramsFrom failed: ${describeThrown(error)}`);
          emitSkipped(result, call);
          settled(i, result);
          return;
        }
      }
      void run({ ...call, id: ids[i]!, params }).then((result) => settled(i, result));
    };

    for (let i = 0; i < calls.length; i++) if (remaining[i] === 0) submit(i);
  });
}

function fixed(call: ToolCall, id: string, status: ToolResult['status'], code: 'dependency_failed' | 'invalid_params', message: string): ToolResult {
  return { id, tool: call.tool, status, value: undefined, error: { code, message }, queuedMs: 0, runMs: 0, attempts: 0 };
}
