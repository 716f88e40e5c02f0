/**
 * Admission through named limiters: a call takes its tool's limiters only when it could start now,
 * synchronously through `tryAcquire` when every one has room, else waiting for them off the slots.
 */
import type { Dispatcher } from './dispatcher.js';
import { McpConcurrencyError } from './errors.js';
import { limiterError, statusOf, errorInfo } from './outcome.js';
import { settle } from './settle.js';
import { ACQUIRING, DONE, READY, type Task } from './task.js';
import { TICKS_PER_MS } from './tick-clock.js';
import type { Permit, ToolCall } from './types.js';

/** Takes the call's named limiters, in the tool's fixed order (two calls never wait for each other crosswise), then starts it. */
export function acquire(core: Dispatcher, task: Task): void {
  const tool = task.lane.tool;
  const names = tool.limiters;
  const permits: Permit[] = [];
  let i = 0;
  for (; i < names.length; i++) {
    const limiter = core.limiters.get(names[i]!);
    if (limiter === undefined) {
      refuse(core, task, permits, missingLimiter(core, names[i]!, tool.name));
      return;
    }
    if (limiter.tryAcquire === undefined) break;
    let permit: Permit | undefined;
    try {
      permit = limiter.tryAcquire({ cost: tool.cost });
    } catch (error) {
      refuse(core, task, permits, limiterError(error, names[i]!));
      return;
    }
    if (permit === undefined) break;
    permits.push(permit);
    limiterWaited(core, names[i]!, 0, task.call);
  }
  task.extra().permits = permits;
  if (i === names.length) {
    core.start(task);
    return;
  }
  task.state = ACQUIRING;
  task.lane.acquiring = task;
  const controller = new AbortController();
  task.extras!.acquireController = controller;
  void acquireRest(core, task, i, permits, controller.signal).then(
    () => {
      core.time.stale();
      if (task.lane.acquiring === task) task.lane.acquiring = undefined;
      if (task.sink === undefined) {
        releasePermits(permits);
      } else {
        task.state = READY;
        task.lane.ready = task;
      }
      if (task.lane.isIdle()) core.deactivate(task.lane);
      core.dispatch();
    },
    (error: unknown) => {
      core.time.stale();
      if (task.lane.acquiring === task) task.lane.acquiring = undefined;
      if (task.sink === undefined) releasePermits(permits);
      else refuse(core, task, permits, limiterError(error, 'limiter'));
      if (task.lane.isIdle()) core.deactivate(task.lane);
      core.dispatch();
    },
  );
}

async function acquireRest(core: Dispatcher, task: Task, from: number, permits: Permit[], signal: AbortSignal): Promise<void> {
  const tool = task.lane.tool;
  const names = tool.limiters;
  for (let i = from; i < names.length; i++) {
    const name = names[i]!;
    const limiter = core.limiters.get(name);
    if (limiter === undefined) throw missingLimiter(core, name, tool.name);
    core.time.stale();
    const started = core.time.now();
    try {
      permits.push(await limiter.acquire({ cost: tool.cost, signal }));
    } catch (error) {
      throw limiterError(error, name);
    }
    core.time.stale();
    limiterWaited(core, name, (core.time.now() - started) / TICKS_PER_MS, task.call);
  }
}

/** Settles a call its limiters refused (rate_limited, limiter_unavailable, a missing limiter). */
function refuse(core: Dispatcher, task: Task, permits: Permit[], error: McpConcurrencyError): void {
  core.queued--;
  releasePermits(permits);
  const info = errorInfo(error);
  settle(core, task, error.code === 'invalid_argument' ? 'rejected' : statusOf(error.code), undefined, info, error);
  task.state = DONE;
}

function limiterWaited(core: Dispatcher, name: string, waitedMs: number, call: ToolCall): void {
  const observer = core.observer;
  if (observer?.onLimiterWait !== undefined) core.notify(() => observer.onLimiterWait!(name, waitedMs, call));
}

/** Releases every permit taken; a limiter's release that throws must not cost a call its result. */
export function releasePermits(permits: Permit[] | undefined): void {
  if (permits === undefined) return;
  for (const permit of permits) {
    try {
      permit.release();
    } catch {
      // ignored, as above
    }
  }
  permits.length = 0;
}

function missingLimiter(core: Dispatcher, name: string, tool: string): McpConcurrencyError {
  return new McpConcurrencyError(
    'invalid_argument',
    `Tool "${tool}" uses limiter "${name}", which is not registered (limiters: ${[...core.limiters.keys()].join(', ') || 'none'})`,
  );
}
