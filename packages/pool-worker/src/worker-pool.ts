import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConcurrencyLimiter, McpConcurrencyError, type Permit } from '@mcp-concurrency/core-scheduler';
import {
  abortReason,
  checkNonEmptyString,
  checkNonNegative,
  checkSignal,
  describeThrown,
  onAbort,
} from '@mcp-concurrency/core-scheduler/plugin';
import { Piscina } from 'piscina';
import { moduleHref } from './module-href.js';
import { resolveOptions, type ResolvedWorkerPoolOptions, type WorkerPoolOptions } from './options.js';

/** Counts for metrics (`metrics.addPool('worker', () => pool.stats())`). */
export interface WorkerPoolStats {
  /** Worker threads alive now. */
  readonly threads: number;
  /** Calls running on a thread now. */
  readonly busy: number;
  /** Calls waiting for a thread now. */
  readonly queued: number;
  /** Calls that returned a value. */
  readonly completed: number;
  /** Calls that failed (threw, ran out of heap, returned what cannot be cloned, were refused). */
  readonly failed: number;
  /** Workers stopped in the middle of a call: cancelled, past a deadline, out of heap or crashed. */
  readonly terminated: number;
}

/** Per call. */
export interface WorkerRunOptions {
  /** Aborting it stops the call: a queued call leaves the queue, a running one's worker is terminated. */
  readonly signal?: AbortSignal;
  /** Passed to the function as `context.callId`. @default '' */
  readonly callId?: string;
  /** Passed to the function as `context.attempt`. @default 1 */
  readonly attempt?: number;
}

/** The shared lifecycle contract: `close()` lets in-flight calls finish, `destroy()` stops now. */
export interface WorkerPoolCloseOptions {
  /** How long in-flight calls may go on before the pool is destroyed, in ms. @default Infinity */
  readonly graceMs?: number;
  /** Aborting it ends the grace period at once. */
  readonly signal?: AbortSignal;
}

interface Flight {
  readonly controller: AbortController;
  /** Set to 1 by the worker when the call starts running (how `busy` and `terminated` are counted). */
  readonly started: Int32Array;
  /** Resolves when the call has settled (for `close()`). */
  readonly done: Promise<void>;
}

const ENTRY = fileURLToPath(new URL('./worker-entry.mjs', import.meta.url));

/**
 * A pool of worker threads (piscina) that runs exported functions of ES modules off the main
 * thread: arguments and results cross by structured clone, a call whose signal aborts has its worker
 * terminated (so nothing keeps burning CPU), and each worker has a heap limit.
 *
 * Give `limiter` to the scheduler that runs worker tools (and name it in their policy's `limiters`):
 * calls then wait in the scheduler, where queue deadlines and metrics see them, rather than inside
 * the pool.
 *
 * @example
 * const pool = new WorkerPool({ maxThreads: 4 });
 * const digest = await pool.run(new URL('./hash.mjs', import.meta.url), 'sha256', { text: 'abc' }, { signal });
 * await pool.close();
 */
export class WorkerPool {
  /** A concurrency limit of `maxThreads`, for the scheduler's `limiters`. */
  readonly limiter: ConcurrencyLimiter;
  readonly #options: ResolvedWorkerPoolOptions;
  readonly #piscina: Piscina;
  /**
   * Admission: at most `maxThreads` calls are handed to piscina, the rest wait here. piscina's own
   * queue is never used: when a thread is terminated (an aborted call) and `minThreads` is 0, piscina
   * starts no replacement for tasks already in its queue, and they would wait forever; a call handed
   * over with a free slot always finds a thread or starts one.
   */
  readonly #slots: ConcurrencyLimiter;
  readonly #inFlight = new Set<Flight>();
  #completed = 0;
  #failed = 0;
  #terminated = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(options: WorkerPoolOptions = {}) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.limiter = new ConcurrencyLimiter(o.maxThreads);
    this.#slots = new ConcurrencyLimiter(o.maxThreads);
    this.#piscina = new Piscina({
      filename: ENTRY,
      name: 'run',
      minThreads: o.minThreads,
      maxThreads: o.maxThreads,
      idleTimeout: o.idleTimeoutMs,
      // Between calls a worker waits with Atomics.waitAsync, so an async tool's timers keep running.
      atomics: 'async',
      resourceLimits: { maxOldGenerationSizeMb: o.maxHeapMb, maxYoungGenerationSizeMb: o.maxYoungHeapMb, stackSizeMb: o.stackSizeMb },
      env: o.env === undefined ? undefined : { ...o.env },
    });
    // piscina emits 'error' for a worker that fails with no call on it; unhandled, that would end the process.
    this.#piscina.on('error', (error: unknown) => o.onError?.(error));
  }

  get maxThreads(): number {
    return this.#options.maxThreads;
  }

  /** True once `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `module`'s export `exportName` on a worker thread with `args` and resolves with what it
   * returns (or resolves to). `module` is an absolute path or a `file:` URL.
   *
   * Rejects with: the signal's reason when it aborts; `tool_error` when the function throws, the
   * worker runs out of heap or exits, or the result cannot be structured-cloned; `queue_full`
   * past `maxQueued`; `closed` after `close()`/`destroy()`; `invalid_argument` for a bad module.
   */
  async run(module: string | URL, exportName: string, args: unknown, options: WorkerRunOptions = {}): Promise<unknown> {
    const href = moduleHref('module', module);
    checkNonEmptyString('exportName', exportName);
    const signal = options.signal;
    checkSignal('signal', signal);
    if (this.#closed) throw new McpConcurrencyError('closed', 'The worker pool is closed');
    if (signal?.aborted) throw abortReason(signal);
    const controller = new AbortController();
    const started = new Int32Array(new SharedArrayBuffer(4));
    const task = { module: href, export: exportName, args, callId: options.callId ?? '', attempt: options.attempt ?? 1, started };
    let settled!: () => void;
    const flight: Flight = { controller, started, done: new Promise<void>((resolve) => (settled = resolve)) };
    this.#inFlight.add(flight);
    const off = onAbort(signal, () => controller.abort(abortReason(signal!)));
    let permit: Permit | undefined;
    try {
      if (this.#slots.waiting >= this.#options.maxQueued && this.#slots.inUse >= this.#options.maxThreads) {
        throw new McpConcurrencyError('queue_full', `${label(href, exportName)}: ${this.#options.maxQueued} calls already wait for a worker thread (maxQueued)`, { retryable: true });
      }
      permit = await this.#slots.acquire({ signal: controller.signal });
      let running: Promise<unknown>;
      try {
        running = this.#piscina.run(task, { signal: controller.signal });
      } catch (error) {
        // postMessage refused the arguments (a function, a socket...).
        throw new McpConcurrencyError('invalid_params', `${label(href, exportName)}: the arguments cannot be passed to a worker thread: ${describeThrown(error)}`, { cause: error });
      }
      const value = await running;
      this.#completed++;
      return value;
    } catch (error) {
      if (controller.signal.aborted) {
        // piscina terminated the worker if the call had started on it.
        if (Atomics.load(started, 0) === 1) this.#terminated++;
        throw controller.signal.reason;
      }
      this.#failed++;
      if (error instanceof McpConcurrencyError) throw error;
      const failure = this.#describeFailure(error, href, exportName);
      if (failure.workerDied) this.#terminated++;
      throw failure.error;
    } finally {
      permit?.release();
      off();
      this.#inFlight.delete(flight);
      settled();
    }
  }

  /**
   * Loads `module` in a worker and checks that `exportName` is a function: how a tool's definition
   * fails before its first call. Rejects with `config_error` naming the module, the export and why.
   */
  async check(module: string | URL, exportName: string, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const href = moduleHref('module', module);
    checkNonEmptyString('exportName', exportName);
    checkSignal('signal', options.signal);
    if (this.#closed) throw new McpConcurrencyError('closed', 'The worker pool is closed');
    const permit = await this.#slots.acquire({ signal: options.signal });
    try {
      if (this.#closed) throw new McpConcurrencyError('closed', 'The worker pool is closed');
      await this.#piscina.run({ module: href, export: exportName }, { name: 'check', signal: options.signal });
    } catch (error) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      if (error instanceof McpConcurrencyError) throw error;
      throw new McpConcurrencyError('config_error', `Cannot use export "${exportName}" of ${fileURLToPath(href)}: ${describeThrown(error)}`, { cause: error });
    } finally {
      permit.release();
    }
  }

  stats(): WorkerPoolStats {
    let busy = 0;
    for (const flight of this.#inFlight) if (Atomics.load(flight.started, 0) === 1) busy++;
    return {
      threads: this.#piscina.threads.length,
      busy,
      queued: this.#inFlight.size - busy,
      completed: this.#completed,
      failed: this.#failed,
      terminated: this.#terminated,
    };
  }

  /**
   * Stops taking calls (they reject with `closed`), lets in-flight calls finish, then ends the
   * threads. When `graceMs` passes or `signal` aborts first, destroys what is left. Idempotent.
   */
  close(options: WorkerPoolCloseOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const graceMs = options.graceMs ?? Infinity;
    if (graceMs !== Infinity) checkNonNegative('graceMs', graceMs);
    checkSignal('signal', options.signal);
    this.#closed = true;
    this.#closing = this.#close(graceMs, options.signal);
    return this.#closing;
  }

  /** Stops now: in-flight calls reject with `closed` (cause: `reason`), every worker is terminated. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    this.#closed = true;
    this.#destroying ??= this.#destroy(reason);
    return this.#destroying;
  }

  async #close(graceMs: number, signal: AbortSignal | undefined): Promise<void> {
    const idle = Promise.all([...this.#inFlight].map((f) => f.done)).then(() => false);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let off = (): void => {};
    const cut = new Promise<boolean>((resolve) => {
      if (signal?.aborted) return resolve(true);
      if (Number.isFinite(graceMs)) timer = setTimeout(() => resolve(true), graceMs);
      off = onAbort(signal, () => resolve(true));
    });
    const forced = await Promise.race([idle, cut]);
    clearTimeout(timer);
    off();
    await this.destroy(forced ? new McpConcurrencyError('closed', 'The worker pool closed and its grace period ended') : undefined);
  }

  async #destroy(reason: unknown): Promise<void> {
    const error = isClosed(reason) ? reason : new McpConcurrencyError('closed', 'The worker pool was destroyed while this call ran', { cause: reason });
    for (const flight of this.#inFlight) flight.controller.abort(error);
    await Promise.all([...this.#inFlight].map((f) => f.done));
    await this.#piscina.destroy();
  }

  #describeFailure(error: unknown, href: string, exportName: string): { error: McpConcurrencyError; workerDied: boolean } {
    const what = label(href, exportName);
    const code = (error as { code?: unknown } | null)?.code;
    const message = describeThrown(error);
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return {
        error: new McpConcurrencyError('tool_error', `${what}: ran out of heap (the limit is ${this.#options.maxHeapMb} MiB per worker: maxHeapMb); the worker was replaced`, { cause: error }),
        workerDied: true,
      };
    }
    if (/^worker exited with code/.test(message)) {
      return { error: new McpConcurrencyError('tool_error', `${what}: the worker thread exited before returning (${message})`, { cause: error }), workerDied: true };
    }
    return { error: new McpConcurrencyError('tool_error', `${what}: ${message}`, { cause: error }), workerDied: false };
  }
}

function label(href: string, exportName: string): string {
  return `${basename(fileURLToPath(href))}#${exportName}`;
}

function isClosed(value: unknown): value is McpConcurrencyError {
  return value instanceof McpConcurrencyError && value.code === 'closed';
}
