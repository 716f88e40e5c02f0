import type { ServerContext } from '@modelcontextprotocol/server';

/** What the server and the proxy need to tell a caller about its call's progress. */
export interface QueuedProgress {
  /** Call when the call starts running: the "queued" notifications stop. */
  readonly started: () => void;
  /** Waits for the call; the first "queued" notification goes out only if it has neither started nor settled after one turn of the event loop. */
  around<T>(pending: Promise<T>): Promise<T>;
  /**
   * Relays a progress notification of the running call (the upstream's, in the proxy) on the caller's
   * token, shifted by the number of "queued" notifications already sent so that `progress` keeps
   * increasing: queued ticks are 0, 1, ... k-1, then the upstream's p is sent as k + p (and its total as k + total).
   */
  relay(progress: number, total?: number, message?: string): void;
  readonly stop: () => void;
}

const noop = (): void => {};

/** The progress of a call without a `progressToken`: nothing to tell, the call's promise as it is. */
const NO_PROGRESS: QueuedProgress = { started: noop, around: (pending) => pending, relay: noop, stop: noop };

/**
 * "queued" progress for one call (MCP basic/utilities/progress): nothing without a `progressToken`,
 * nothing for a call that starts (or is refused) at once, else one notification when it turns out to
 * wait and one every `intervalMs` (ms) until it starts.
 */
export function queuedProgress(ctx: ServerContext, queue: { readonly scheduler: { readonly queued: number } }, intervalMs: number): QueuedProgress {
  const token = ctx.mcpReq._meta?.progressToken;
  // Without a token nothing is ever sent: no timers, no per-call state (the common call's hot path).
  if (token === undefined) return NO_PROGRESS;
  let ticks = 0;
  let running = false;
  let done = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  let first: ReturnType<typeof setImmediate> | undefined;
  // Notifications still being sent: the result waits for them, so a caller never sees progress after it.
  const sending = new Set<Promise<void>>();
  const send = (params: { progress: number; total?: number; message?: string }): void => {
    const sent = ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, ...params } }).then(
      () => {},
      () => {},
    );
    sending.add(sent);
    void sent.finally(() => sending.delete(sent));
  };
  const tell = (): void => send({ progress: ticks++, message: `queued: waiting for a slot (${waiting(queue.scheduler.queued)})` });
  const stop = (): void => {
    done = true;
    clearInterval(timer);
    if (first !== undefined) clearImmediate(first);
  };
  return {
    started: () => {
      running = true;
      clearInterval(timer);
    },
    around: (pending) => {
      first = setImmediate(() => {
        first = undefined;
        if (running || done) return;
        tell();
        timer = setInterval(tell, intervalMs);
      });
      return pending.finally(async () => {
        stop();
        await Promise.all(sending);
      });
    },
    relay: (progress, total, message) => {
      send({ progress: ticks + progress, ...(total === undefined ? {} : { total: ticks + total }), ...(message === undefined ? {} : { message }) });
    },
    stop,
  };
}

/** `1 call waiting`, `3 calls waiting`. */
function waiting(n: number): string {
  return `${n} ${n === 1 ? 'call' : 'calls'} waiting`;
}
