import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { describeThrown, type ParameterSpec } from '@mcp-concurrency/core-scheduler/plugin';
import { Ajv, type ErrorObject } from 'ajv';
import { isAlias, isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Scalar } from 'yaml';
import { compileSqlTool } from '@mcp-concurrency/pool-postgres';
import { checkScriptArgs } from '../tools/script-tool.js';
import { configSchema, MAX_DURATION_MS } from './schema.js';

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
  /** Where the tool's run is written (`file:line:col` of `worker.module`, `script.command`...): for reports such as `check --connect`. */
  readonly at?: string;
}

export interface ProxyRule {
  readonly match: string;
  readonly maxParallel?: number;
  readonly rateLimit?: string;
  readonly timeoutMs?: number;
  readonly retry?: RetryConfig;
}

/** A limit on one proxied request method (`proxy.resources_read`, `proxy.prompts_get`). */
export type ProxyMethodPolicy = Omit<ProxyRule, 'match' | 'retry'>;

/** The Streamable HTTP endpoint's session bounds (`server:`); `undefined`: serveHttp's defaults (1,000 sessions, 10 min idle). */
export interface ServerConfig {
  readonly maxSessions?: number;
  readonly sessionIdleMs?: number;
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
  /** `metrics.process_metrics`: prom-client's default process metrics beside ours. */
  readonly processMetrics: boolean;
  readonly batch: false | { readonly maxCalls: number };
  readonly tools: readonly ToolConfig[];
  readonly proxyRules: readonly ProxyRule[];
  /** `proxy.resources_read` / `proxy.prompts_get`: limits on those requests (none: passed upstream directly). */
  readonly proxyMethods: Readonly<Partial<Record<'resources/read' | 'prompts/get', ProxyMethodPolicy>>>;
  /** `server:` the Streamable HTTP endpoint of serve and proxy. */
  readonly server: ServerConfig;
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

/**
 * Validates a configuration's text: the one validation that `check` and `serve` both run. YAML syntax,
 * aliases (undefined, or expanding too far), nesting depth, `${VAR}` (filled in first, so a value from
 * the environment is checked like a written one), the schema with every number's range, then what the
 * tools need at definition (placeholders declared, http URLs absolute http(s) with a fixed origin, SQL
 * placeholders found with certainty). Every problem is a `config_error` at `file:line:col`.
 */
export function parseConfig(text: string, file = 'config.yaml', env: NodeJS.ProcessEnv = process.env): McpConfig {
  const lineCounter = new LineCounter();
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    // The composer turns a stack overflow on deep nesting into RESOURCE_EXHAUSTION errors: say what it means.
    const exhausted = doc.errors.filter((e) => e.code === 'RESOURCE_EXHAUSTION');
    if (exhausted.length > 0) {
      const offset = Math.min(...exhausted.map((e) => e.pos[0]));
      throw new McpConcurrencyError('config_error', `${at(offset)}: the document is nested too deeply (a configuration has at most ${MAX_DEPTH} levels)`);
    }
    const error = doc.errors[0]!;
    const opened = error.pos[0] >= text.trimEnd().length ? unclosedAt(doc, error.pos[0]) : undefined;
    const message = `invalid YAML: ${error.message.split('\n')[0]}`;
    // Noticed at the end of the text: point at what was left open (a quote, a [ or {), not at the end.
    if (opened !== undefined) throw new McpConcurrencyError('config_error', `${at(opened)}: ${message} (it opens here)`);
    throw new McpConcurrencyError('config_error', `${at(error.pos[0])}: ${message}`);
  }
  /** `file:line:col` of the node at `path`, or of its nearest ancestor that is written. */
  const locate = (path: readonly (string | number)[]): string => {
    let node: unknown = doc.getIn(path, true);
    for (let cut = path.length; !isNode(node) && cut > 0; cut--) node = doc.getIn(path.slice(0, cut - 1), true);
    return at(isNode(node) && node.range ? node.range[0] : 0);
  };
  const where = (path: readonly (string | number)[]): string => `${locate(path)}: ${formatPath(path)}`;
  const fail = (path: readonly (string | number)[], message: string): never => {
    throw new McpConcurrencyError('config_error', `${where(path)}: ${message}`);
  };

  const missing: { offset: number; message: string }[] = [];
  const firstAlias = prepare(doc, text, env, at, missing);
  if (missing.length > 0) {
    // Every missing variable at once, in file order, one line each: one run tells what to set.
    const lines = [...new Set(missing.sort((a, b) => a.offset - b.offset).map((m) => m.message))];
    throw new McpConcurrencyError('config_error', lines.join('\n'));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // Only aliases make toJS throw once the checks above passed: an alias bomb.
    throw new McpConcurrencyError('config_error', `${at(firstAlias ?? 0)}: the aliases expand too far (${describeThrown(error)})`);
  }
  const ajv = new Ajv({ allErrors: false, strict: false, verbose: true });
  const validate = ajv.compile(configSchema);
  if (!validate(raw)) {
    const error = pickError(validate.errors ?? []);
    const path = error.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
    // An unknown key is reported at the key itself, not at the mapping that holds it.
    if (error.keyword === 'additionalProperties') {
      const key = String((error.params as { additionalProperty?: unknown }).additionalProperty);
      const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
      const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && String(item.key.value) === key) : undefined;
      const offset = isNode(pair?.key) && pair.key.range ? pair.key.range[0] : undefined;
      if (offset !== undefined) throw new McpConcurrencyError('config_error', `${at(offset)}: ${formatPath([...path, key])}: ${describe(error)}`);
    }
    fail(path, describe(error) + fromReference(doc, path, text, error));
  }
  return build(raw as RawConfig, file, fail, locate);
}

/** A scalar that is one `${NAME}` reference and nothing else. */
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** For a type error on an unquoted `${NAME}`: where the value came from and how to keep it a string (never the value). */
function fromReference(doc: Document.Parsed, path: readonly (string | number)[], text: string, error: ErrorObject): string {
  if (error.keyword !== 'type') return '';
  const node = doc.getIn(path, true);
  if (!isScalar(node) || !node.range) return '';
  const source = text.slice(node.range[0], node.range[1]);
  if (!WHOLE_REFERENCE.test(source)) return '';
  return (error.params as { type?: unknown }).type === 'string'
    ? ` (the value of ${source} reads as a ${typeof node.value}: write "${source}", quoted, to keep it a string)`
    : ` (the value of ${source} is not one)`;
}

/** The start of the innermost node that runs on to `end` (what a missing quote or bracket left open). */
function unclosedAt(doc: Document.Parsed, end: number): number | undefined {
  let found: number | undefined;
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isPair(node)) stack.push(node.key, node.value);
    if (!isNode(node) || node.range === undefined || node.range === null) continue;
    if (node.range[1] >= end && node.range[0] < end) found = Math.max(found ?? node.range[0], node.range[0]);
    if (isMap(node) || isSeq(node)) stack.push(...node.items);
  }
  return found;
}

/** Levels of nesting a configuration may have (the deepest real one, an http body, needs far fewer). */
const MAX_DEPTH = 32;
/** yaml's own bound on alias expansion (its default): an alias bomb stops here. */
const MAX_ALIAS_COUNT = 100;
/**
 * What `${` can start in a string: `$${` (a literal `${`), `${NAME}` (the variable NAME), or anything else
 * (`${ NAME }`, `${1X}`, `${NAME` unclosed): an error, never kept as text by accident.
 */
const ENV_REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}\n]{0,64}\}?/g;

/**
 * One pass over the parsed nodes, before anything is converted: depth bounded, every alias defined,
 * and `${VAR}` filled in from the environment (a plain scalar that is exactly one `${VAR}` takes the
 * value's YAML type, so `max_parallel: ${WORKERS}` is a number). A variable that is not set does not stop
 * the pass: each reference to one goes to `missing` (its scalar's offset and its error line), for the
 * caller to report all of them in one error. Returns the offset of the first alias.
 */
function prepare(
  doc: Document.Parsed,
  text: string,
  env: NodeJS.ProcessEnv,
  at: (offset: number) => string,
  missing: { offset: number; message: string }[],
): number | undefined {
  let firstAlias: number | undefined;
  const stack: { node: unknown; path: (string | number)[] }[] = [{ node: doc.contents, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    const offset = isNode(node) && node.range ? node.range[0] : 0;
    if (path.length > MAX_DEPTH) {
      throw new McpConcurrencyError('config_error', `${at(offset)}: ${formatPath(path)}: nested too deeply (a configuration has at most ${MAX_DEPTH} levels)`);
    }
    if (isAlias(node)) {
      firstAlias = Math.min(firstAlias ?? offset, offset);
      if (node.resolve(doc) === undefined) throw new McpConcurrencyError('config_error', `${at(offset)}: ${formatPath(path)}: undefined alias *${node.source}`);
    } else if (isScalar(node)) {
      if (typeof node.value === 'number' && !Number.isFinite(node.value)) {
        throw new McpConcurrencyError('config_error', `${at(offset)}: ${formatPath(path)}: expected a finite number, got ${String(node.value)}`);
      }
      if (typeof node.value === 'string' && node.value.includes('${')) {
        const where = (o?: number): string => `${at(o ?? offset)}: ${formatPath(path)}`;
        substituteScalar(node, env, text, where, (name) => missing.push({ offset, message: `${where()}: environment variable ${name} is not set` }));
      }
    } else if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?';
        stack.push({ node: pair.value, path: [...path, key] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, path: [...path, i] }));
    }
  }
  return firstAlias;
}

/**
 * `${VAR}` from the environment, `$${` as a literal `${`; a `${` that is not a reference (`${ VAR }`,
 * `${1X}`, unclosed) is an error at the reference (found in the scalar's source text) or else at the
 * scalar; a variable that is not set goes to `onMissing` (and the reference stays as written). Values are
 * never printed.
 */
function substituteScalar(node: Scalar, env: NodeJS.ProcessEnv, text: string, where: (offset?: number) => string, onMissing: (name: string) => void): void {
  const original = node.value as string;
  const source = node.range ? text.slice(node.range[0], node.range[1]) : '';
  const value = original.replace(ENV_REFERENCE, (found: string, name: string | undefined) => {
    if (found === '$${') return '${';
    if (name === undefined) {
      const index = source.indexOf(found);
      throw new McpConcurrencyError(
        'config_error',
        `${where(index >= 0 && node.range ? node.range[0] + index : undefined)}: "${found}" is not an environment reference: write \${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]* (no spaces), or $\${ for a literal "\${"`,
      );
    }
    const v = env[name];
    if (v === undefined) {
      onMissing(name);
      return found;
    }
    return v;
  });
  // An unquoted `${VAR}` alone takes the type its value reads as (a YAML core-schema number, true or false), so
  // `max_parallel: ${N}` works; anything else stays a string. The value is never parsed as YAML: a secret that
  // starts with `*`, `[` or `&` must neither change the document nor appear in an error.
  if (node.type === 'PLAIN' && WHOLE_REFERENCE.test(original)) {
    if (/^[-+]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(value)) {
      node.value = Number(value);
      return;
    }
    if (value === 'true' || value === 'false') {
      node.value = value === 'true';
      return;
    }
  }
  node.value = value;
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
  metrics?: { process_metrics?: boolean };
  batch?: boolean | { max_calls?: number };
  tools: RawTool[];
  proxy?: {
    tools?: { match: string; concurrency?: { max_parallel?: number }; rate_limit?: string; timeout?: number | string; retry?: RawTool['retry'] }[];
    resources_read?: RawMethodPolicy;
    prompts_get?: RawMethodPolicy;
  };
  server?: { max_sessions?: number; session_idle?: number | string };
}

interface RawMethodPolicy {
  concurrency?: { max_parallel?: number };
  rate_limit?: string;
  timeout?: number | string;
}

type Fail = (path: readonly (string | number)[], message: string) => never;

function build(raw: RawConfig, file: string, fail: Fail, locate: (path: readonly (string | number)[]) => string): McpConfig {
  /** A duration in ms, its range checked after conversion ("999999h" is as wrong as 1e12). */
  const duration = (path: (string | number)[], value: number | string | undefined): number | undefined => {
    const converted = ms(value);
    if (converted !== undefined && !(converted > 0 && converted <= MAX_DURATION_MS)) {
      fail(path, `expected a duration > 0 and at most ${MAX_DURATION_MS} ms (about 24.8 days), got ${converted} ms`);
    }
    return converted;
  };
  const retryOf = (path: (string | number)[], retry: RawTool['retry']): RetryConfig | undefined => {
    if (retry === undefined) return undefined;
    if (typeof retry === 'number') return { retries: retry };
    return { retries: retry.retries, minDelayMs: duration([...path, 'min_delay'], retry.min_delay), maxDelayMs: duration([...path, 'max_delay'], retry.max_delay), factor: retry.factor };
  };
  /** A definition-time check of a tool builder, its `config_error` reported at this path. */
  const definitionCheck = (path: (string | number)[], check: () => unknown): void => {
    try {
      check();
    } catch (error) {
      fail(path, describeThrown(error).replace(/^Tool "[^"]*": /, ''));
    }
  };
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
    if (t.script) {
      (t.script.args ?? []).forEach((arg, k) => definitionCheck([...at, 'script', 'args', k], () => checkScriptArgs(t.name, [arg], parameters)));
      // A script runs in the config file's folder (or `cwd`, relative to it), so `scripts/x.mjs` means the file beside the config.
      const cwd = resolve(dirname(file), t.script.cwd ?? '.');
      if (t.script.cwd !== undefined && !(existsSync(cwd) && statSync(cwd).isDirectory())) fail([...at, 'script', 'cwd'], `no such folder: ${cwd} (the path is relative to the config file's folder)`);
      run = { kind: 'script', command: t.script.command, args: t.script.args ?? [], cwd, env: t.script.env, output: t.script.output ?? 'text' };
    } else if (t.http) {
      checkHttpTemplate([...at, 'http'], t.http, parameters, fail);
      run = { kind: 'http', method: (t.http.method ?? 'GET').toUpperCase(), url: t.http.url, headers: t.http.headers, body: t.http.body };
    } else if (t.worker) {
      run = { kind: 'worker', module: resolve(dirname(file), t.worker.module), export: t.worker.export ?? 'default' };
    } else {
      if (raw.database === undefined) fail([...at, 'sql'], 'a sql tool needs a top-level database.url');
      definitionCheck([...at, 'sql', 'query'], () => compileSqlTool(t.name, t.sql!.query, parameters));
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
      timeoutMs: duration([...at, 'timeout'], t.timeout),
      retry: retryOf([...at, 'retry'], t.retry),
      annotations,
      run,
      at: locate([...at, run.kind, run.kind === 'worker' ? 'module' : run.kind === 'sql' ? 'query' : run.kind === 'http' ? 'url' : 'command']),
    };
  });
  const proxyRules = (raw.proxy?.tools ?? []).map((r, i): ProxyRule => {
    checkRateLimit(['proxy', 'tools', i, 'rate_limit'], r.rate_limit);
    const rule = ['proxy', 'tools', i];
    return { match: r.match, maxParallel: r.concurrency?.max_parallel, rateLimit: r.rate_limit, timeoutMs: duration([...rule, 'timeout'], r.timeout), retry: retryOf([...rule, 'retry'], r.retry) };
  });
  const proxyMethods: Partial<Record<'resources/read' | 'prompts/get', ProxyMethodPolicy>> = {};
  for (const [key, method] of [['resources_read', 'resources/read'], ['prompts_get', 'prompts/get']] as const) {
    const policy = raw.proxy?.[key];
    if (policy === undefined) continue;
    checkRateLimit(['proxy', key, 'rate_limit'], policy.rate_limit);
    proxyMethods[method] = { maxParallel: policy.concurrency?.max_parallel, rateLimit: policy.rate_limit, timeoutMs: duration(['proxy', key, 'timeout'], policy.timeout) };
  }
  const batch = raw.batch === undefined || raw.batch === false ? false : { maxCalls: (raw.batch === true ? undefined : raw.batch.max_calls) ?? 50 };
  return {
    file,
    name: raw.name,
    version: raw.version ?? '0.0.0',
    maxParallel: raw.concurrency?.max_parallel ?? 10,
    threadPoolSize: raw.concurrency?.thread_pool_size ?? raw.concurrency?.max_parallel ?? 10,
    maxQueued: raw.concurrency?.max_queued,
    maxPerSession: raw.concurrency?.max_per_session,
    timeoutMs: duration(['concurrency', 'timeout'], raw.concurrency?.timeout),
    queueTimeoutMs: duration(['concurrency', 'queue_timeout'], raw.concurrency?.queue_timeout),
    rateLimits,
    redisUrl: raw.concurrency?.redis_url,
    database: raw.database === undefined ? undefined : { url: raw.database.url, max: raw.database.max, readOnly: raw.database.read_only ?? true },
    http: { allowOrigins: raw.http?.allow_origins, allowPrivateNetwork: raw.http?.allow_private_network ?? false, maxBodyBytes: raw.http?.max_body_bytes },
    maxArgumentBytes: raw.limits?.max_argument_bytes ?? 256 * 1024,
    maxOutputBytes: raw.limits?.max_output_bytes ?? 1024 * 1024,
    processMetrics: raw.metrics?.process_metrics ?? false,
    batch,
    tools,
    proxyRules,
    proxyMethods,
    server: { maxSessions: raw.server?.max_sessions, sessionIdleMs: wholeMs(duration(['server', 'session_idle'], raw.server?.session_idle)) },
  };
}

const HTTP_PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * An http tool's URL: absolute, http or https (never `file:`, `data:`...), its origin fixed (no
 * placeholder before the path: a model's arguments never pick the host), and every placeholder in the
 * URL and body a declared parameter.
 */
function checkHttpTemplate(path: (string | number)[], http: NonNullable<RawTool['http']>, parameters: Readonly<Record<string, ParameterSpec>>, fail: Fail): void {
  const urlPath = [...path, 'url'];
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(http.url)?.[0] ?? http.url;
  if (authority.includes('{{')) fail(urlPath, "placeholders may not appear in the URL's scheme, host or port (a model's arguments never pick the host)");
  let url: URL;
  try {
    url = new URL(http.url.replace(HTTP_PLACEHOLDER, 'x'));
  } catch {
    return fail(urlPath, 'expected an absolute http(s) URL such as "https://api.example.com/items/{{id}}"');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(urlPath, `expected an http or https URL, got ${url.protocol}`);
  const body = typeof http.body === 'object' ? JSON.stringify(http.body) : '';
  for (const [part, text] of [['url', http.url], ['body', body]] as const) {
    for (const [, name] of text.matchAll(HTTP_PLACEHOLDER)) {
      if (!(name! in parameters)) fail([...path, part], `{{${name}}} is not a declared parameter`);
    }
  }
}

/** A duration as the whole ms a timer takes (at least 1). */
function wholeMs(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.max(1, Math.round(value));
}

/** 250, "250ms", "5s", "2m" -> ms. */
export function ms(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value)!;
  const n = Number(match[1]);
  return match[2] === 's' ? n * 1000 : match[2] === 'm' ? n * 60_000 : n;
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
    case 'minimum': {
      const integer = (error.parentSchema as { type?: unknown } | undefined)?.type === 'integer';
      return `expected ${integer && Number(p['limit']) === 1 ? 'a positive integer' : `${integer ? 'an integer' : 'a number'} >= ${String(p['limit'])}`}`;
    }
    case 'exclusiveMinimum':
      return `expected a number > ${String(p['limit'])}`;
    case 'maximum':
      return `expected at most ${String(p['limit'])}`;
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

