// Runs inside every worker thread of a WorkerPool: piscina calls the export named by the task's
// `name` run option. Plain JavaScript so the same file loads from `src/` (tests) and `dist/`.

/**
 * Runs one call: imports the tool's module (the loader caches it per worker), marks the call as
 * started in the shared flag the pool reads for its `busy` count, and calls the export with the
 * arguments and `{ callId, attempt }`. Whatever it returns or throws is structured-cloned back.
 *
 * @param {{ module: string; export: string; args: unknown; callId: string; attempt: number; started: Int32Array }} task
 */
export async function run(task) {
  Atomics.store(task.started, 0, 1);
  const fn = await load(task.module, task.export);
  let result;
  try {
    result = await fn(task.args, { callId: task.callId, attempt: task.attempt });
  } catch (error) {
    throw plainError(error);
  }
  // A value postMessage cannot clone would crash the worker inside piscina (and lose the reason):
  // clone it here, off the main thread, to fail this one call with a clear message instead.
  try {
    structuredClone(result);
  } catch (error) {
    throw new Error(`returned a value that cannot be structured-cloned to the main thread (${describe(error)}); return plain data`);
  }
  return result;
}

/** What crosses back for a throw: name, message, stack and a string `code`, whatever was thrown. */
function plainError(thrown) {
  const error = new Error(describe(thrown));
  if (thrown instanceof Error) {
    error.name = thrown.name;
    error.stack = thrown.stack;
    if (typeof thrown.code === 'string') error.code = thrown.code;
  }
  return error;
}

function describe(thrown) {
  if (thrown instanceof Error) return thrown.message || thrown.name;
  if (typeof thrown === 'string') return thrown;
  try {
    return `non-Error thrown: ${JSON.stringify(thrown)}`;
  } catch {
    return `non-Error thrown: ${Object.prototype.toString.call(thrown)}`;
  }
}

/**
 * The definition-time check: the module loads and the export is a function. Done in a worker so a
 * module's top-level code never runs on the main thread.
 *
 * @param {{ module: string; export: string }} task
 */
export async function check(task) {
  await load(task.module, task.export);
  return true;
}

/** @param {string} module @param {string} name */
async function load(module, name) {
  const namespace = await import(module);
  const fn = namespace[name];
  if (typeof fn !== 'function') {
    const exported = Object.keys(namespace).filter((key) => typeof namespace[key] === 'function');
    throw new TypeError(`"${name}" is not a function exported by the module (its function exports: ${exported.join(', ') || 'none'})`);
  }
  return fn;
}
