// The CLI's commands, their options and help texts, and the parsing of what a user typed.
import { isIP } from 'node:net';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { ms } from '../config/load.js';
import { MAX_DURATION_MS, MAX_SESSIONS } from '../config/schema.js';

export type CommandName = 'serve' | 'proxy' | 'check';

type Options = NonNullable<ParseArgsConfig['options']>;

const CONFIG = { config: { type: 'string' } } as const satisfies Options;
const LISTEN = {
  http: { type: 'string' },
  metrics: { type: 'string' },
  token: { type: 'string' },
  'allow-origin': { type: 'string', multiple: true },
  'max-sessions': { type: 'string' },
  'session-idle': { type: 'string' },
} as const satisfies Options;
const COMMON = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

const OPTIONS = {
  serve: { ...CONFIG, ...LISTEN, ...COMMON },
  proxy: { ...CONFIG, ...LISTEN, upstream: { type: 'string' }, ...COMMON },
  check: { ...CONFIG, connect: { type: 'boolean' }, ...COMMON },
} as const satisfies Record<CommandName, Options>;

const OPTION_HELP: Record<string, string> = {
  config: '--config FILE          the configuration (YAML, the shape of examples/gantz.yaml); relative script paths resolve from its folder',
  http: '--http HOST:PORT       serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST defaults to 127.0.0.1; PORT 0 picks a free one)',
  metrics: '--metrics HOST:PORT    serve Prometheus /metrics there (with --http, /metrics is also served beside /mcp)',
  token: '--token TOKEN          require "Authorization: Bearer TOKEN" over HTTP (or set MCP_CONCURRENCY_TOKEN)',
  'allow-origin': '--allow-origin ORIGIN  a browser origin allowed to call over HTTP (repeatable)',
  'max-sessions': `--max-sessions N       open 2025-revision HTTP sessions at most, 1 to ${MAX_SESSIONS} (default: server.max_sessions, else 1000); an initialize over it gets 503`,
  'session-idle': '--session-idle TIME    close an HTTP session after this long without a request: ms, or "90s", "10m" (default: server.session_idle, else 10m)',
  upstream: '--upstream URL         proxy a Streamable HTTP MCP server (or give its command after --)',
  connect: '--connect              also probe what can be at load time: the database answers and each sql query prepares, script commands exist, worker modules load, Redis answers (http tools are never called); exit 1 if a probe fails',
  help: '-h, --help             this text',
};

const SUMMARY: Record<CommandName, { usage: string; what: string }> = {
  serve: { usage: 'mcp-concurrency serve --config FILE [--http HOST:PORT [--max-sessions N] [--session-idle TIME] [--allow-origin ORIGIN]...] [--metrics HOST:PORT] [--token TOKEN]', what: 'Serve the tools of a YAML file as an MCP server, over stdio or Streamable HTTP.' },
  proxy: {
    usage: 'mcp-concurrency proxy --config FILE [--http HOST:PORT [--max-sessions N] [--session-idle TIME] [--allow-origin ORIGIN]...] [--metrics HOST:PORT] [--token TOKEN] (--upstream URL | -- COMMAND [ARGS...])',
    what: 'Put the policies of a YAML file in front of an existing MCP server.',
  },
  check: { usage: 'mcp-concurrency check --config FILE [--connect]', what: 'Validate a YAML file exactly as serve would, and print its tools and limits.' },
};

/** The help text of one command, or of the whole CLI. */
export function helpText(command?: CommandName): string {
  if (command === undefined) {
    return [
      'mcp-concurrency: concurrent, rate-limited MCP tools from a YAML file',
      '',
      'Usage:',
      ...Object.values(SUMMARY).map((s) => `  ${s.usage}`),
      '  mcp-concurrency --version',
      '',
      'Commands:',
      ...Object.entries(SUMMARY).map(([name, s]) => `  ${name.padEnd(6)} ${s.what}`),
      '',
      'Run "mcp-concurrency COMMAND --help" for the options of a command.',
      'Exit codes: 0 done, 1 a run-time failure, 2 a usage or configuration error.',
      '',
    ].join('\n');
  }
  const summary = SUMMARY[command];
  return [`${summary.what}`, '', `Usage: ${summary.usage}`, '', 'Options:', ...Object.keys(OPTIONS[command]).map((o) => `  ${OPTION_HELP[o]}`), ''].join('\n');
}

export type Invocation =
  | { readonly kind: 'help'; readonly command?: CommandName }
  | { readonly kind: 'version' }
  | {
      readonly kind: 'run';
      readonly command: CommandName;
      readonly config: string;
      readonly http?: { readonly host: string; readonly port: number };
      readonly metrics?: { readonly host: string; readonly port: number };
      readonly token?: string;
      readonly allowOrigins?: readonly string[];
      /** `--max-sessions`: overrides the config's `server.max_sessions`. */
      readonly maxSessions?: number;
      /** `--session-idle`, in ms: overrides the config's `server.session_idle`. */
      readonly sessionIdleMs?: number;
      readonly upstream?: { readonly url: string } | { readonly command: string; readonly args: readonly string[] };
      /** `check --connect`: probe the services the config names. */
      readonly connect?: boolean;
    };

const usage = (message: string, command?: CommandName): McpConcurrencyError =>
  new McpConcurrencyError('invalid_argument', `${message}\nRun "mcp-concurrency ${command === undefined ? '' : `${command} `}--help" for usage.`);

/**
 * Parses the command line. Throws `invalid_argument` (exit code 2) for anything it cannot take, naming
 * the option and what was expected.
 */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const dashDash = argv.indexOf('--');
  const own = dashDash >= 0 ? argv.slice(0, dashDash) : [...argv];
  const trailing = dashDash >= 0 ? argv.slice(dashDash + 1) : [];
  const first = own[0];
  if (first === undefined) throw usage('A command is needed: serve, proxy or check.');
  if (first === '--version' || first === '-v') return { kind: 'version' };
  if (first === '--help' || first === '-h' || first === 'help') return { kind: 'help' };
  if (!(first in OPTIONS)) throw usage(`Unknown command "${first}": expected serve, proxy or check.`);
  const command = first as CommandName;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    const options: Options = OPTIONS[command];
    parsed = parseArgs({ args: own.slice(1), options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usage(error instanceof Error ? error.message.replace(/^TypeError \[[A-Z_]+\]: /, '') : String(error), command);
  }
  const { values, positionals } = parsed;
  if (values['help'] === true) return { kind: 'help', command };
  if (positionals.length > 0) throw usage(`Unexpected argument "${positionals[0]}" for ${command}.`, command);
  if (trailing.length > 0 && command !== 'proxy') throw usage(`Only proxy takes a command after "--".`, command);
  const config = values['config'];
  if (typeof config !== 'string' || config === '') throw usage(`${command} needs --config FILE.`, command);
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  let upstream: { url: string } | { command: string; args: readonly string[] } | undefined;
  if (command === 'proxy') {
    const url = text('upstream');
    if (url !== undefined && trailing.length > 0) throw usage('Give the upstream either as --upstream URL or as a command after "--", not both.', command);
    if (url !== undefined) upstream = { url: checkUrl(url) };
    else if (trailing.length > 0) upstream = { command: trailing[0]!, args: trailing.slice(1) };
    else throw usage('proxy needs --upstream URL or -- COMMAND [ARGS...].', command);
  }
  const http = text('http');
  const metrics = text('metrics');
  const maxSessions = text('max-sessions');
  const sessionIdle = text('session-idle');
  if ((maxSessions !== undefined || sessionIdle !== undefined) && http === undefined) throw usage('--max-sessions and --session-idle bound HTTP sessions: they need --http.', command);
  const origins = values['allow-origin'];
  return {
    kind: 'run',
    command,
    config,
    ...(http === undefined ? {} : { http: hostPort(http, '--http') }),
    ...(metrics === undefined ? {} : { metrics: hostPort(metrics, '--metrics') }),
    ...(text('token') === undefined ? {} : { token: text('token') }),
    ...(Array.isArray(origins) ? { allowOrigins: origins.map(String) } : {}),
    ...(maxSessions === undefined ? {} : { maxSessions: sessionCount(maxSessions, command) }),
    ...(sessionIdle === undefined ? {} : { sessionIdleMs: idleDuration(sessionIdle, command) }),
    ...(upstream === undefined ? {} : { upstream }),
    ...(values['connect'] === true ? { connect: true } : {}),
  };
}

function sessionCount(value: string, command: CommandName): number {
  const n = /^\d{1,9}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= MAX_SESSIONS)) throw usage(`--max-sessions expects a whole number from 1 to ${MAX_SESSIONS}, got "${value}".`, command);
  return n;
}

/** A duration as the config writes one (250, "250ms", "90s", "10m"), in ms, up to Node's longest timer. */
function idleDuration(value: string, command: CommandName): number {
  const converted = /^\s*\d+(\.\d+)?\s*(ms|s|m)?\s*$/.test(value) ? ms(value) : undefined;
  if (converted === undefined || !(converted >= 1 && converted <= MAX_DURATION_MS)) {
    throw usage(`--session-idle expects a duration from 1 ms to ${MAX_DURATION_MS} ms: a number of ms or "90s", "10m", got "${value}".`, command);
  }
  return Math.round(converted);
}

function checkUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usage(`--upstream expects an http:// or https:// URL, got "${value}".`, 'proxy');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`--upstream expects an http:// or https:// URL, got "${value}".`, 'proxy');
  return value;
}

/** A host name: letters, digits, hyphens and dots (RFC 1123), as a listener takes it. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * A host name a listener can be given: RFC 1123 labels, the last one not all digits (RFC 3696 2), so a
 * mistyped IPv4 address (`999.1.1.1`, `1.2.3`) is a usage error here, not a failed DNS lookup at listen.
 */
function isHostName(host: string): boolean {
  return HOST_NAME.test(host) && !/(?:^|\.)\d+$/.test(host);
}

/** `HOST:PORT`, `[IPv6]:PORT` or `PORT` (host 127.0.0.1); the port 0-65535 (0: a free one). */
export function hostPort(value: string, flag: string): { host: string; port: number } {
  const match = /^(?:(?:\[([^\]]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(value);
  const what = `${flag} expects HOST:PORT, [IPv6]:PORT or PORT (for example 127.0.0.1:3000)`;
  if (!match) throw usage(`${what}, got "${value}".`);
  const host = match[1] ?? match[2] ?? '127.0.0.1';
  const port = Number(match[3]);
  if (port > 65_535) throw usage(`${flag}: the port must be from 0 to 65535, got ${port}.`);
  if (match[1] !== undefined ? isIP(host) !== 6 : isIP(host) === 0 && !isHostName(host)) throw usage(`${flag}: "${host}" is not an IP address or host name.`);
  return { host, port };
}
