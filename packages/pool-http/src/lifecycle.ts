import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';

/** The shared lifecycle contract's options for `close()`. */
export interface CloseOptions {
  /** Longest wait for work in flight, in ms; then what is left is destroyed. @default Infinity */
  readonly graceMs?: number;
  /** Aborting it destroys what is left at once. */
  readonly signal?: AbortSignal;
}

/** What a resource closes or destroys once its own work is done or abandoned. */
export interface OwnedResources {
  close(): Promise<void>;
  destroy(): Promise<void>;
  /**
   * `destroy()` itself fails everything in flight (an undici Agent we built: its sockets are destroyed),
   * so tracked calls can run under the caller's signal with no controller of their own. @default false
   */
  readonly destroyEndsWork?: boolean;
}

/**
 * In-flight bookkeeping for `close()` and `destroy()`: `close()` waits for tracked calls, `destroy()`
 * ends them (through their own signal, linked to the caller's, or through the resources' `destroy()`
 * when `destroyEndsWork`) and they reject with code `closed`. Both idempotent and awaitable; calls after
 * either reject with code `closed`.
 */
export class Lifecycle {
  readonly #name: string;
  readonly #resources: OwnedResources;
  readonly #inFlight = new Set<AbortController>();
  #untracked = 0;
  #idle: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(name: string, resources: OwnedResources) {
    this.#name = name;
    this.#resources = resources;
  }

  get inFlight(): number {
    return this.#inFlight.size + this.#untracked;
  }

  async track<T>(signal: AbortSignal | undefined, run: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    if (this.#closing !== undefined || this.#destroying !== undefined) {
      throw new McpConcurrencyError('closed', `The ${this.#name} is closed; it takes no more requests`);
    }
    if (signal?.aborted) {
      const reason: unknown = signal.reason;
      throw reason instanceof McpConcurrencyError ? reason : new McpConcurrencyError('cancelled', 'Cancelled before it started', { cause: reason });
    }
    if (this.#resources.destroyEndsWork === true) {
      this.#untracked++;
      try {
        return await run(signal);
      } catch (error) {
        throw this.#destroying === undefined ? error : this.#closedError(error);
      } finally {
        this.#untracked--;
        if (this.inFlight === 0) this.#idle?.();
      }
    }
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#inFlight.add(controller);
    try {
      return await run(controller.signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#inFlight.delete(controller);
      if (this.inFlight === 0) this.#idle?.();
    }
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options);
    return this.#closing;
  }

  destroy(reason?: unknown): Promise<void> {
    this.#destroying ??= this.#destroy(reason);
    return this.#destroying;
  }

  async #close({ graceMs = Infinity, signal }: CloseOptions): Promise<void> {
    if (this.inFlight > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let onAbort: (() => void) | undefined;
      const idle = new Promise<void>((resolve) => (this.#idle = resolve));
      const cut = new Promise<void>((resolve) => {
        if (graceMs !== Infinity) timer = setTimeout(resolve, graceMs);
        onAbort = resolve;
        if (signal?.aborted) resolve();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
      try {
        await Promise.race([idle, cut]);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort!);
      }
      if (this.inFlight > 0) await this.destroy(signal?.reason ?? new McpConcurrencyError('timeout', `Close grace of ${graceMs} ms elapsed`));
    }
    if (this.#destroying !== undefined) return this.#destroying;
    await this.#resources.close();
  }

  async #destroy(reason: unknown): Promise<void> {
    const error = this.#closedError(reason);
    for (const controller of this.#inFlight) controller.abort(error);
    await this.#resources.destroy();
  }

  #closedError(cause: unknown): McpConcurrencyError {
    return new McpConcurrencyError('closed', `The ${this.#name} was destroyed; the request was aborted`, { cause });
  }
}
