import { McpConcurrencyError, type ToolPolicy } from '@mcp-concurrency/core-scheduler';
import {
  checkArguments,
  invalidArgument,
  parametersSchema,
  type DescribedTool,
  type ParameterSpec,
} from '@mcp-concurrency/core-scheduler/plugin';
import type { HttpClient } from './http-client.js';
import type { NamedLimiter, OriginLimits } from './origin-limits.js';
import type { HttpResponse } from './response.js';

export type HttpParameter = ParameterSpec;

export interface HttpToolDefinition {
  readonly name: string;
  readonly description?: string;
  /** @default 'GET' */
  readonly method?: string;
  /**
   * The URL, with `{{name}}` placeholders for declared parameters in its path and query (URL-encoded).
   * The origin is fixed here: a model's arguments can never pick the host.
   * @example 'https://api.example.com/users/{{id}}/posts?limit={{limit}}'
   */
  readonly url: string;
  /** Fixed headers (secrets belong here, from your config, never from the model). */
  readonly headers?: Readonly<Record<string, string>>;
  /** `'arguments'` sends the validated arguments as a JSON body; an object is sent with `{{name}}` values replaced. */
  readonly body?: 'arguments' | Readonly<Record<string, unknown>>;
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  /** Limits and deadline, for the scheduler that runs the tool; `limiters` get the origin's limiter names added. */
  readonly policy?: ToolPolicy;
}

export interface HttpToolOptions {
  /** The per-origin cap and rate limiters the tool's calls acquire. @default none (only the scheduler's limits) */
  readonly limits?: OriginLimits;
}

/** An http tool: a `DescribedTool` plus the origin's limiters, which the scheduler that runs it must know by name. */
export interface HttpTool extends DescribedTool<Record<string, unknown>, HttpResponse> {
  /** The fixed origin of every request (`https://api.example.com`). */
  readonly origin: string;
  /** Register each with `scheduler.setLimiter(name, limiter)`; their names are already in `policy.limiters`. */
  readonly limiters: readonly NamedLimiter[];
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * An `http` tool for a scheduler (the MCP adapter's, or yours): method and URL template fixed at
 * definition time, arguments validated against the declared parameters, and each attempt one
 * `client.request()` (SSRF guard, body cap, coded errors with `retryable` and `retryAfterMs`). The
 * scheduler that runs it owns the deadline, the retries and the limits, including the origin's from
 * `options.limits`; wrap `run` with `throttleOnRetryAfter()` so a 429 or 503 with `Retry-After` slows
 * every limiter the call holds.
 *
 * @example
 * const tool = httpTool(client, { name: 'weather', url: 'https://api.example.com/weather?q={{city}}', parameters: { city: { type: 'string', required: true } } }, { limits });
 * for (const [name, limiter] of tool.limiters) scheduler.setLimiter(name, limiter);
 * scheduler.register(tool);
 */
export function httpTool(client: HttpClient, definition: HttpToolDefinition, options: HttpToolOptions = {}): HttpTool {
  if (typeof definition?.name !== 'string' || definition.name === '') throw invalidArgument('name', 'a non-empty string', definition?.name);
  const parameters = definition.parameters ?? {};
  let origin: string;
  try {
    origin = new URL(definition.url.replace(PLACEHOLDER, 'x')).origin;
  } catch {
    throw invalidArgument(`${definition.name}.url`, 'an absolute http(s) URL template', definition.url);
  }
  const afterScheme = definition.url.indexOf('//') + 2;
  const pathStart = definition.url.slice(afterScheme).search(/[/?#]/);
  const authority = pathStart < 0 ? definition.url : definition.url.slice(0, afterScheme + pathStart);
  if (authority.includes('{{')) {
    throw new McpConcurrencyError('config_error', `Tool "${definition.name}": placeholders may not appear in the URL's origin (${origin})`);
  }
  for (const name of placeholders(definition.url, definition.body)) {
    if (!(name in parameters)) throw new McpConcurrencyError('config_error', `Tool "${definition.name}": {{${name}}} is not a declared parameter`);
  }
  const limiters = options.limits?.limitersFor(origin) ?? [];
  const policy: ToolPolicy | undefined =
    limiters.length === 0 ? definition.policy : { ...definition.policy, limiters: [...(definition.policy?.limiters ?? []), ...limiters.map(([name]) => name)] };
  return {
    name: definition.name,
    description: definition.description ?? `${definition.method ?? 'GET'} ${origin}`,
    inputSchema: parametersSchema(parameters),
    policy,
    origin,
    limiters,
    run: async (params, ctx) => {
      const args = checkArguments(parameters, params);
      const url = definition.url.replace(PLACEHOLDER, (_, name: string) => encodeURIComponent(args[name] === undefined ? '' : String(args[name])));
      const body = definition.body === 'arguments' ? args : definition.body === undefined ? undefined : fill(definition.body, args);
      return client.request({ url, method: definition.method, headers: definition.headers, body }, { signal: ctx.signal });
    },
  };
}

function placeholders(url: string, body: HttpToolDefinition['body']): string[] {
  const text = url + (typeof body === 'object' ? JSON.stringify(body) : '');
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** Replaces string values that are exactly `{{name}}` with the argument (keeping its type), and inner ones as text. */
function fill(template: unknown, args: Readonly<Record<string, unknown>>): unknown {
  if (typeof template === 'string') {
    const whole = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/.exec(template);
    if (whole) return args[whole[1]!];
    return template.replace(PLACEHOLDER, (_, name: string) => String(args[name] ?? ''));
  }
  if (Array.isArray(template)) return template.map((t) => fill(t, args));
  if (typeof template === 'object' && template !== null) {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fill(v, args)]));
  }
  return template;
}
