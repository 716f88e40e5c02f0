import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import Bottleneck from "bottleneck";
import pLimit from "p-limit";
import PQueue from "p-queue";
import { Scheduler } from "@mcp-concurrency/core-scheduler";
const json = process.argv.includes("--json");
const REPEATS = Number(process.env.BENCH_REPEATS ?? 7);
const N = 2e5;
const CONCURRENCY = 10;
const gc = globalThis.gc;
const noop = async () => {
};
function summarise(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1] };
}
async function repeat(fn, times = REPEATS) {
  await fn();
  const samples = [];
  for (let i = 0; i < times; i++) samples.push(await fn());
  return summarise(samples);
}
async function throughput(submit, n = N) {
  gc?.();
  const started = performance.now();
  await submit(n);
  return n / ((performance.now() - started) / 1e3);
}
function oursGlobal() {
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: "noop", run: noop }] });
  const call = { tool: "noop" };
  return (n) => {
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = scheduler.run(call);
    return Promise.all(all);
  };
}
function oursToolLimitObserved() {
  let settled = 0;
  const observer = { onSettled: () => void settled++, onStart: () => {
  } };
  const scheduler = new Scheduler({
    maxParallel: 100,
    tools: [{ name: "noop", run: noop, policy: { maxParallel: CONCURRENCY } }],
    observers: [observer]
  });
  const call = { tool: "noop" };
  return (n) => {
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = scheduler.run(call);
    return Promise.all(all);
  };
}
function pLimitContender() {
  const limit = pLimit(CONCURRENCY);
  return (n) => {
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = limit(noop);
    return Promise.all(all);
  };
}
function pQueueContender() {
  const queue = new PQueue({ concurrency: CONCURRENCY });
  return (n) => {
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = queue.add(noop);
    return Promise.all(all);
  };
}
function bottleneckContender() {
  const limiter = new Bottleneck({ maxConcurrent: CONCURRENCY });
  return (n) => {
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = limiter.schedule(noop);
    return Promise.all(all);
  };
}
async function bytesPerQueued(queueAll, n = 1e5) {
  let release;
  const gate = new Promise((r) => release = r);
  const blocker = () => gate;
  gc?.();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const done = queueAll(n, blocker);
  gc?.();
  gc?.();
  const after = process.memoryUsage().heapUsed;
  release();
  await done;
  return (after - before) / n;
}
const MEMORY = {
  ours: () => bytesPerQueued((n, blocker) => {
    const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: "b", run: blocker }] });
    const call = { tool: "b" };
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = scheduler.run(call);
    return Promise.all(all);
  }),
  "p-limit": () => bytesPerQueued((n, blocker) => {
    const limit = pLimit(CONCURRENCY);
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = limit(blocker);
    return Promise.all(all);
  }),
  "p-queue": () => bytesPerQueued((n, blocker) => {
    const queue = new PQueue({ concurrency: CONCURRENCY });
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = queue.add(blocker);
    return Promise.all(all);
  })
};
async function timerWall() {
  const sleep50 = () => new Promise((r) => setTimeout(r, 50));
  const scheduler = new Scheduler({ maxParallel: 10, tools: [{ name: "sleep", run: sleep50 }] });
  const calls = Array.from({ length: 100 }, () => ({ tool: "sleep" }));
  const started = performance.now();
  await scheduler.runBatch(calls);
  return performance.now() - started;
}
async function timerWallPLimit() {
  const sleep50 = () => new Promise((r) => setTimeout(r, 50));
  const limit = pLimit(10);
  const started = performance.now();
  await Promise.all(Array.from({ length: 100 }, () => limit(sleep50)));
  return performance.now() - started;
}
function randomGraph(n, seed) {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, (_, i) => {
    const deps = /* @__PURE__ */ new Set();
    const fanIn = i === 0 ? 0 : Math.floor(random() * 4);
    for (let d = 0; d < fanIn; d++) deps.add(String(Math.floor(random() * i)));
    return { id: String(i), tool: "noop", dependsOn: [...deps] };
  });
}
async function graphOverheadUs() {
  const calls = randomGraph(1e3, 42);
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: "noop", run: noop }] });
  const started = performance.now();
  const results2 = await scheduler.runGraph(calls);
  const elapsed = performance.now() - started;
  if (results2.some((r) => r.status !== "ok")) throw new Error("graph run failed");
  return elapsed * 1e3 / calls.length;
}
async function graphBaselineUs() {
  const scheduler = new Scheduler({ maxParallel: CONCURRENCY, tools: [{ name: "noop", run: noop }] });
  const calls = Array.from({ length: 1e3 }, (_, i) => ({ id: String(i), tool: "noop" }));
  const started = performance.now();
  await scheduler.runBatch(calls);
  return (performance.now() - started) * 1e3 / calls.length;
}
const THROUGHPUT = {
  "mcp-concurrency (global limit)": oursGlobal,
  "mcp-concurrency (tool limit + observer)": oursToolLimitObserved,
  "p-limit": pLimitContender,
  "p-queue": pQueueContender
};
const workerIndex = process.argv.indexOf("--worker");
if (workerIndex >= 0) {
  const kind = process.argv[workerIndex + 1];
  const name = process.argv[workerIndex + 2];
  let value;
  if (kind === "throughput") {
    const submit = THROUGHPUT[name]();
    for (let i = 0; i < 3; i++) await throughput(submit);
    value = summarise([await throughput(submit), await throughput(submit), await throughput(submit)]).median;
  } else {
    value = await MEMORY[name]();
  }
  console.log(JSON.stringify({ value }));
  process.exit(0);
}
function inChild(kind, name) {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--worker", kind, name], {
    encoding: "utf8"
  });
  return JSON.parse(out.trim().split("\n").pop()).value;
}
function alternate(kind, names, times) {
  const samples = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < times; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) samples[name].push(inChild(kind, name));
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarise(v)]));
}
const log = (line) => {
  if (!json) console.error(line);
};
log(`node ${process.version}, ${REPEATS} repeats, median (min-max), each sample in a fresh process`);
log("no-op throughput...");
const tput = alternate("throughput", Object.keys(THROUGHPUT), REPEATS);
log("Bottleneck (2,000 tasks: it runs about 450 per second)...");
tput["Bottleneck"] = await repeat(() => throughput(bottleneckContender(), 2e3), 3);
log("heap bytes per queued task...");
const memory = alternate("memory", Object.keys(MEMORY), 3);
log("100 x 50 ms timers at concurrency 10...");
const timer = await repeat(timerWall, 5);
const timerPLimit = await repeat(timerWallPLimit, 5);
log("1,000-call random graph...");
const graph = await repeat(graphOverheadUs, 9);
const graphBase = await repeat(graphBaselineUs, 9);
const pl = tput["p-limit"].median;
const results = {
  node: process.version,
  repeats: REPEATS,
  throughput: Object.fromEntries(Object.entries(tput).map(([k, f]) => [k, { tasksPerSecond: f, vsPLimit: f.median / pl }])),
  bytesPerQueuedTask: Object.fromEntries(
    Object.entries(memory).map(([k, f]) => [k, { bytes: f, vsPLimit: f.median / memory["p-limit"].median }])
  ),
  timers: { idealMs: 500, ours: timer, oursVsIdeal: timer.median / 500, pLimit: timerPLimit, pLimitVsIdeal: timerPLimit.median / 500 },
  graph: { calls: 1e3, usPerCall: graph, usPerCallWithoutGraph: graphBase, graphOverheadUsPerCall: graph.median - graphBase.median },
  targets: {
    throughputVsPLimit: { target: ">= 2.0", actual: tput["mcp-concurrency (global limit)"].median / pl },
    bytesVsPLimit: { target: "<= 0.5", actual: memory["ours"].median / memory["p-limit"].median },
    toolLimitObserverVsPLimit: { target: ">= 1.0", actual: tput["mcp-concurrency (tool limit + observer)"].median / pl },
    timersVsIdeal: { target: "<= 1.01", actual: timer.median / 500 }
  }
};
if (json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  const fmt = (f, digits = 0) => `${f.median.toFixed(digits)} (${f.min.toFixed(digits)}-${f.max.toFixed(digits)})`;
  console.log("\nNo-op async tasks, concurrency 10 (tasks/s)");
  console.table(Object.fromEntries(Object.entries(tput).map(([k, f]) => [k, { "tasks/s": fmt(f), "vs p-limit": (f.median / pl).toFixed(2) }])));
  console.log("Heap bytes per queued task (100,000 queued)");
  console.table(Object.fromEntries(Object.entries(memory).map(([k, f]) => [k, { bytes: fmt(f), "vs p-limit": (f.median / memory["p-limit"].median).toFixed(2) }])));
  console.log("100 tasks x 50 ms timer, concurrency 10 (ideal 500 ms)");
  console.table({ ours: { "wall ms": fmt(timer, 1), "vs ideal": (timer.median / 500).toFixed(3) }, "p-limit": { "wall ms": fmt(timerPLimit, 1), "vs ideal": (timerPLimit.median / 500).toFixed(3) } });
  console.log("1,000-call random graph (\xB5s per call)");
  console.table({ graph: { "\xB5s/call": fmt(graph, 2) }, "same calls, no graph": { "\xB5s/call": fmt(graphBase, 2) } });
  console.log("Targets");
  console.table(Object.fromEntries(Object.entries(results.targets).map(([k, v]) => [k, { target: v.target, actual: v.actual.toFixed(3) }])));
}
