import { appendFile, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, runToEnd, type RunningServer } from './processes.js';
import { readResults, type ScenarioResult } from './results.js';

/** A conformance release and the scenarios of it that the runner runs. */
export interface Suite {
  /** Key in the expectation file and the table, e.g. `2025-11-25`. */
  readonly id: string;
  /** What the README and the table call it. */
  readonly label: string;
  /** The npm name the suite is installed under in this workspace (an alias for the prerelease). */
  readonly packageName: string;
  /** Arguments after `server --url URL` that pick the scenarios. */
  readonly select: readonly string[];
  /** Every scenario must pass directly against the fixture, whatever the expectation file says. */
  readonly directMustPass: boolean;
}

/** The suites, oldest protocol revision first. */
export const SUITES: readonly Suite[] = [
  { id: '2025-11-25', label: '@modelcontextprotocol/conformance 0.1.16, --suite all', packageName: '@modelcontextprotocol/conformance', select: ['--suite', 'all'], directMustPass: true },
  {
    id: '2026-07-28',
    label: '@modelcontextprotocol/conformance 0.2.0-alpha.12, --requirements 2026-07-28',
    packageName: 'conformance-next',
    select: ['--requirements', '2026-07-28'],
    directMustPass: false,
  },
];

/** How the suite reaches the fixture. */
export type Mode = 'direct' | 'proxy-http' | 'proxy-stdio';
export const MODES: readonly Mode[] = ['direct', 'proxy-http', 'proxy-stdio'];

/** Options of {@link runMode}. */
export interface RunModeOptions {
  readonly suite: Suite;
  readonly mode: Mode;
  /** A Node >= 22 binary for the suite. */
  readonly node22: string;
  /** `packages/mcp-adapter/dist/cli.js`. */
  readonly proxyCli: string;
  /** The proxy's `--config`. */
  readonly proxyConfig: string;
  /** Scenario folders and the log go under `<outDir>/<suite>/<mode>/`. */
  readonly outDir: string;
  /** Scenarios to count as failed when the run does not reach them (from the expectation file). */
  readonly knownScenarios: readonly string[];
  /**
   * Bound on one suite run, in ms.
   * @default 240000
   */
  readonly timeoutMs?: number;
  /** Stops the suite, the proxy and the fixture when aborted (the CLI aborts on SIGINT / SIGTERM). */
  readonly signal?: AbortSignal;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The fixture's process entry (`dist/everything-cli.js`). */
export const FIXTURE_CLI = join(here, 'everything-cli.js');

function suiteEntry(packageName: string): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(`${packageName}/package.json`)), 'dist', 'index.js');
}

/**
 * Starts what `mode` needs (the fixture over HTTP; or `mcp-concurrency proxy --http` in front of
 * the fixture over HTTP or over stdio), runs the suite at it under Node 22, stops everything, and
 * returns one result per scenario. Process output goes to `<dir>/run.log`.
 */
export async function runMode(options: RunModeOptions): Promise<{ results: ScenarioResult[]; timedOut: boolean; log: string }> {
  const dir = join(options.outDir, options.suite.id, options.mode);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const log = join(dir, 'run.log');
  const lines: string[] = [];
  const record = (prefix: string) => (line: string) => void lines.push(`${prefix} ${line}`);
  const servers: RunningServer[] = [];
  const node = process.execPath; // the project's Node runs the fixture and the proxy
  const proxyArgs = [options.proxyCli, 'proxy', '--config', options.proxyConfig, '--http', '127.0.0.1:0'];
  const proxyReady = /listening on (http:\/\/\S+)/;
  try {
    let url: string;
    if (options.mode === 'proxy-stdio') {
      const proxy = await startServer(node, [...proxyArgs, '--', node, FIXTURE_CLI], { ready: proxyReady, onLine: record('[proxy]'), signal: options.signal });
      servers.push(proxy);
      url = proxy.url;
    } else {
      const fixture = await startServer(node, [FIXTURE_CLI, '--http', '0'], { ready: /listening on (http:\/\/\S+)/, onLine: record('[fixture]'), signal: options.signal });
      servers.push(fixture);
      url = fixture.url;
      if (options.mode === 'proxy-http') {
        const proxy = await startServer(node, [...proxyArgs, '--upstream', fixture.url], { ready: proxyReady, onLine: record('[proxy]'), signal: options.signal });
        servers.push(proxy);
        url = proxy.url;
      }
    }
    const ran: string[] = [];
    const run = await runToEnd(options.node22, [suiteEntry(options.suite.packageName), 'server', '--url', url, ...options.suite.select, '-o', dir], options.timeoutMs ?? 240_000, (line) => {
      lines.push(`[suite] ${line}`);
      const match = /^=== Running scenario: (\S+) ===$/.exec(line);
      if (match?.[1] !== undefined) ran.push(match[1]);
    }, options.signal);
    options.signal?.throwIfAborted();
    const scenarios = [...new Set([...ran, ...options.knownScenarios])];
    return { results: await readResults(dir, scenarios), timedOut: run.timedOut, log };
  } finally {
    await Promise.all(servers.reverse().map((s) => s.stop()));
    await appendFile(log, `${lines.join('\n')}\n`);
  }
}
