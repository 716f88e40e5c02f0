import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { type ParameterSpec } from '@mcp-concurrency/core-scheduler/plugin';
import { Ajv, type ErrorObject } from 'ajv';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { configSchema } from './schema.js';

export interface RateLimitConfig {
  readonly rate: number;
  readonly burst: number;
}

export interface RetryConfig {
  readonly retries: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly factor?: number;
}

export interface ToolAnnotationsConfig {
  readonly title?: string;
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly idempotentHint?: boolean;
  readonly openWorldHint?: boolean;
  /** With destructiveHint: the argument naming the resource; calls on one resource run one at a time. */
  readonly resourceArgument?: string;
}

export type ToolKind =
  | { readonly kind: 'script'; readonly command: string; readonly args: readonly string[]; readonly cwd?: string; readonly env?: Readonly<Record<string, string>>; readonly output: 'text' | 'json' }
  | { readonly kind: 'http'; readonly method: string; readonly url: string; readonly headers?: Readonly<Record<string, string>>; readonly body?: 'arguments' | Readonly<Record<string, unknown>> }
  | { readonly kind: 'sql'; readonly query: string }
  /** A function exported by an ES module, run on a worker thread; `module` is absolute (resolved against the config file's folder). */
  | { readonly kind: 'worker'; readonly module: string; readonly export: string };

export interface ToolConfig {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, ParameterSpec>>;
  readonly maxParallel?: number;
  readonly rateLimit?: string;
  readonly timeoutMs?: number;
  readonly retry?: RetryConfig;
  readonly annotations?: ToolAnnotationsConfig;
  readonly run: ToolKind;
}

export interface ProxyRule {
  readonly match: string;
  readonly maxParallel?: number;
  readonly rateLimit?: string;
  readonly timeoutMs?: number;
  readonly retry?: RetryConfig;
}

/** A validated configuration, in the library's own terms. */
export interface McpConfig {
  readonly file: string;
  readonly name: string;
  readonly version: string;
  readonly maxParallel: number;
  /** Script processes and worker-thread calls running at once, together (the seed's thread_pool_size); also the worker pool's size. */
  readonly threadPoolSize: number;
  readonly maxQueued?: number;
  readonly maxPerSession?: number;
  readonly timeoutMs?: number;
  readonly queueTimeoutMs?: number;
  readonly rateLimits: Readonly<Record<string, RateLimitConfig>>;
  readonly redisUrl?: string;
  readonly database?: { readonly url: string; readonly max?: number; readonly readOnly: boolean };
  readonly http: { readonly allowOrigins?: readonly string[]; readonly allowPrivateNetwork: boolean; readonly maxBodyBytes?: number };
  readonly maxArgumentBytes: number;
  readonly maxOutputBytes: number;
  readonly batch: false | { readonly maxCalls: number };
  readonly tools: readonly ToolConfig[];
  readonly proxyRules: readonly ProxyRule[];
}

/**
 * Reads and validates a configuration file. Every problem is a `config_error` naming the file, line,
 * column and path: `gantz.yaml:14:22: tools[0].concurrency.max_parallel: expected an integer >= 1`.
 * `${VAR}` in strings is replaced from the environment (for secrets; they are never printed).
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<McpConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new McpConcurrencyError('config_error', `${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file = 'config.yaml', env: NodeJS.ProcessEnv = process.env): McpConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const error = doc.errors[0]!;
    // `pos` is the offset where the parser stopped; the line counter turns it into a line and column.
    const pos = lineCounter.linePos(error.pos[0]);
    throw new McpConcurrencyError('config_error', `${file}:${pos.line}:${pos.col}: invalid YAML: ${error.message.split('\n')[0]}`);
  }
  const where = (path: readonly (string | number)[]): string => {
    let node: unknown = doc.getIn(path, true);
    for (let cut = path.length; !isNode(node) && cut > 0; cut--) node = doc.getIn(path.slice(0, cut - 1), true);
    const offset = isNode(node) && node.range ? node.range[0] : 0;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}: ${formatPath(path)}`;
  };
  const fail = (path: readonly (string | number)[], message: string): never => {
    throw new McpConcurrencyError('config_error', `${where(path)}: ${message}`);
  };

  // `${VAR}` first: the schema judges the values the server will use (`redis_url: ${REDIS_URL}`).
  const raw: unknown = substitute(doc.toJS(), [], env, fail);
  const ajv = new Ajv({ allErrors: false, strict: false });
  const validate = ajv.compile(configSchema);
  if (!validate(raw)) {
    const error = pickError(validate.errors ?? []);
    const path = error.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
    fail(path, describe(error));
  }
  return build(raw as RawConfig, file, fail);
}

// ---- semantic checks and conversion ------------------------------------------------------------------

interface RawTool {
  name: string;
  description?: string;
  parameters?: { name: string; type: ParameterSpec['type']; required?: boolean; description?: string }[];
  concurrency?: { max_parallel?: number };
  rate_limit?: string;
  timeout?: number | string;
  retry?: number | { retries: number; min_delay?: number | string; max_delay?: number | string; factor?: number };
  annotations?: Record<string, unknown> & { resource_argument?: string };
  script?: { command: string; args?: string[]; cwd?: string; env?: Record<string, string>; output?: 'text' | 'json' };
  http?: { method?: string; url: string; headers?: Record<string, string>; body?: 'arguments' | Record<string, unknown> };
  sql?: { query: string };
  worker?: { module: string; export?: string };
}

interface RawConfig {
  name: string;
  version?: string;
  concurrency?: {
    max_parallel?: number;
    thread_pool_size?: number;
    max_queued?: number;
    max_per_session?: number;
    timeout?: number | string;
    queue_timeout?: number | string;
    redis_url?: string;
    rate_limits?: Record<string, { requests_per_second: number; burst_size?: number }>;
  };
  database?: { url: string; max?: number; read_only?: boolean };
  http?: { allow_origins?: string[]; allow_private_network?: boolean; max_body_bytes?: number };
  limits?: { max_argument_bytes?: number; max_output_bytes?: number };
  batch?: boolean | { max_calls?: number };
  tools: RawTool[];
  proxy?: { tools?: { match: string; concurrency?: { max_parallel?: number }; rate_limit?: string; timeout?: number | string; retry?: RawTool['retry'] }[] };
}

type Fail = (path: readonly (string | number)[], message: string) => never;

function build(raw: RawConfig, file: string, fail: Fail): McpConfig {
  const rateLimits: Record<string, RateLimitConfig> = {};
  for (const [name, r] of Object.entries(raw.concurrency?.rate_limits ?? {})) {
    rateLimits[name] = { rate: r.requests_per_second, burst: r.burst_size ?? Math.max(1, r.requests_per_second) };
  }
  const checkRateLimit = (path: (string | number)[], name: string | undefined): void => {
    if (name !== undefined && !(name in rateLimits)) {
      fail(path, `unknown rate limit "${name}" (defined: ${Object.keys(rateLimits).join(', ') || 'none'})`);
    }
  };
  const seen = new Map<string, number>();
  const tools = raw.tools.map((t, i): ToolConfig => {
    const at = ['tools', i];
    const earlier = seen.get(t.name);
    if (earlier !== undefined) fail([...at, 'name'], `duplicate tool name "${t.name}" (also tools[${earlier}])`);
    seen.set(t.name, i);
    const kinds = (['script', 'http', 'sql', 'worker'] as const).filter((k) => t[k] !== undefined);
    if (kinds.length !== 1) fail(at, kinds.length === 0 ? 'a tool needs one of script, http, sql or worker' : `a tool has exactly one of script, http, sql or worker, got ${kinds.join(' and ')}`);
    checkRateLimit([...at, 'rate_limit'], t.rate_limit);
    const parameters: Record<string, ParameterSpec> = {};
    (t.parameters ?? []).forEach((p, j) => {
      if (p.name in parameters) fail([...at, 'parameters', j, 'name'], `duplicate parameter "${p.name}"`);
      parameters[p.name] = { type: p.type, required: p.required ?? false, description: p.description };
    });
    let run: ToolKind;
    // A script runs in the config file's folder (or `cwd`, relative to it), so `scripts/x.mjs` means the file beside the config.
    if (t.script) run = { kind: 'script', command: t.script.command, args: t.script.args ?? [], cwd: resolve(dirname(file), t.script.cwd ?? '.'), env: t.script.env, output: t.script.output ?? 'text' };
    else if (t.http) run = { kind: 'http', method: (t.http.method ?? 'GET').toUpperCase(), url: t.http.url, headers: t.http.headers, body: t.http.body };
    else if (t.worker) run = { kind: 'worker', module: resolve(dirname(file), t.worker.module), export: t.worker.export ?? 'default' };
    else {
      if (raw.database === undefined) fail([...at, 'sql'], 'a sql tool needs a top-level database.url');
      run = { kind: 'sql', query: t.sql!.query };
    }
    if (t.retry !== undefined && t.annotations?.['idempotentHint'] !== true) {
      fail([...at, 'retry'], 'retries need annotations.idempotentHint: true (a call that may have had effects is not repeated)');
    }
    const resourceArgument = t.annotations?.resource_argument;
    if (resourceArgument !== undefined && !(resourceArgument in parameters)) {
      fail([...at, 'annotations', 'resource_argument'], `"${resourceArgument}" is not a declared parameter`);
    }
    const annotations = t.annotations === undefined ? undefined : {
      title: t.annotations['title'] as string | undefined,
      readOnlyHint: t.annotations['readOnlyHint'] as boolean | undefined,
      destructiveHint: t.annotations['destructiveHint'] as boolean | undefined,
      idempotentHint: t.annotations['idempotentHint'] as boolean | undefined,
      openWorldHint: t.annotations['openWorldHint'] as boolean | undefined,
      resourceArgument,
    };
    return {
      name: t.name,
      description: t.description ?? t.name,
      parameters,
      maxParallel: t.concurrency?.max_parallel,
      rateLimit: t.rate_limit,
      timeoutMs: ms(t.timeout),
      retry: retryOf(t.retry),
      annotations,
      run,
    };
  });
  const proxyRules = (raw.proxy?.tools ?? []).map((r, i): ProxyRule => {
    checkRateLimit(['proxy', 'tools', i, 'rate_limit'], r.rate_limit);
    return { match: r.match, maxParallel: r.concurrency?.max_parallel, rateLimit: r.rate_limit, timeoutMs: ms(r.timeout), retry: retryOf(r.retry) };
  });
  const batch = raw.batch === undefined || raw.batch === false ? false : { maxCalls: (raw.batch === true ? undefined : raw.batch.max_calls) ?? 50 };
  return {
    file,
    name: raw.name,
    version: raw.version ?? '0.0.0',
    maxParallel: raw.concurrency?.max_parallel ?? 10,
    threadPoolSize: raw.concurrency?.thread_pool_size ?? raw.concurrency?.max_parallel ?? 10,
    maxQueued: raw.concurrency?.max_queued,
    maxPerSession: raw.concurrency?.max_per_session,
    timeoutMs: ms(raw.concurrency?.timeout),
    queueTimeoutMs: ms(raw.concurrency?.queue_timeout),
    rateLimits,
    redisUrl: raw.concurrency?.redis_url,
    database: raw.database === undefined ? undefined : { url: raw.database.url, max: raw.database.max, readOnly: raw.database.read_only ?? true },
    http: { allowOrigins: raw.http?.allow_origins, allowPrivateNetwork: raw.http?.allow_private_network ?? false, maxBodyBytes: raw.http?.max_body_bytes },
    maxArgumentBytes: raw.limits?.max_argument_bytes ?? 256 * 1024,
    maxOutputBytes: raw.limits?.max_output_bytes ?? 1024 * 1024,
    batch,
    tools,
    proxyRules,
  };
}

function retryOf(retry: RawTool['retry']): RetryConfig | undefined {
  if (retry === undefined) return undefined;
  if (typeof retry === 'number') return { retries: retry };
  return { retries: retry.retries, minDelayMs: ms(retry.min_delay), maxDelayMs: ms(retry.max_delay), factor: retry.factor };
}

/** 250, "250ms", "5s", "2m" -> ms. */
export function ms(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value)!;
  const n = Number(match[1]);
  return match[2] === 's' ? n * 1000 : match[2] === 'm' ? n * 60_000 : n;
}

/** `${VAR}` from the environment in every string; a missing variable is an error at its path. */
function substitute(value: unknown, path: (string | number)[], env: NodeJS.ProcessEnv, fail: Fail): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) fail(path, `environment variable ${name} is not set`);
      return v!;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, [...path, i], env, fail));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, [...path, k], env, fail)]));
  }
  return value;
}

// ---- Ajv errors in words ------------------------------------------------------------------------------

/** The most specific error: the deepest path; where a oneOf failed there, its summary (its branches' errors are noise). */
function pickError(errors: ErrorObject[]): ErrorObject {
  const depth = (e: ErrorObject): number => e.instancePath.split('/').length;
  const deepest = Math.max(...errors.map(depth));
  const atDeepest = errors.filter((e) => depth(e) === deepest);
  return atDeepest.find((e) => e.keyword === 'oneOf') ?? atDeepest[0]!;
}

function describe(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `missing required property "${String(p['missingProperty'])}"`;
    case 'additionalProperties':
      return `unknown property "${String(p['additionalProperty'])}"`;
    case 'type':
      return p['type'] === 'integer' ? 'expected an integer' : `expected ${article(String(p['type']))}`;
    case 'minimum':
      return `expected ${Number(p['limit']) === 1 ? 'a positive integer' : `a number >= ${String(p['limit'])}`}`;
    case 'exclusiveMinimum':
      return `expected a number > ${String(p['limit'])}`;
    case 'enum':
      return `expected one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `does not match the expected form (${String(p['pattern'])})`;
    case 'minLength':
      return 'expected a non-empty string';
    case 'oneOf':
    case 'const': {
      const key = error.instancePath.split('/').pop() ?? '';
      if (key === 'retry') return 'expected a number of retries or { retries, min_delay, max_delay, factor }';
      if (key === 'body') return 'expected "arguments" or an object';
      if (key === 'batch') return 'expected true, false or { max_calls }';
      return 'expected a duration: a number of ms or a string such as "250ms", "5s", "2m"';
    }
    default:
      return error.message ?? 'invalid';
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '') || '(root)';
}

