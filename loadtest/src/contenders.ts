import Bottleneck from 'bottleneck';
import pLimit from 'p-limit';
import PQueue from 'p-queue';

/** A span of one task, in ms since the run started: what the timeline charts draw. */
export interface Span {
  start: number;
  end: number;
}

export type Task = () => Promise<unknown>;

/** How each anchor runs n tasks with a concurrency limit, recording every task's span. */
export const ANCHORS: Record<string, (tasks: readonly Task[], concurrency: number, spans: Span[], t0: number) => Promise<void>> = {
  sequential: async (tasks, _c, spans, t0) => {
    for (const task of tasks) await timed(task, spans, t0);
  },
  'p-limit': async (tasks, concurrency, spans, t0) => {
    const limit = pLimit(concurrency);
    await Promise.all(tasks.map((task) => limit(() => timed(task, spans, t0))));
  },
  'p-queue': async (tasks, concurrency, spans, t0) => {
    const queue = new PQueue({ concurrency });
    await Promise.all(tasks.map((task) => queue.add(() => timed(task, spans, t0))));
  },
  Bottleneck: async (tasks, concurrency, spans, t0) => {
    const limiter = new Bottleneck({ maxConcurrent: concurrency });
    await Promise.all(tasks.map((task) => limiter.schedule(() => timed(task, spans, t0))));
  },
};

export async function timed(task: Task, spans: Span[], t0: number): Promise<unknown> {
  const start = performance.now() - t0;
  try {
    return await task();
  } finally {
    spans.push({ start, end: performance.now() - t0 });
  }
}
