import {
  checkArguments,
  invalidArgument,
  McpConcurrencyError,
  parametersSchema,
  type DescribedTool,
  type ParameterSpec,
  type ToolPolicy,
} from '@mcp-concurrency/core-scheduler';
import type { HttpPool } from './http-pool.js';
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
  readonly timeoutMs?: number;
  readonly policy?: ToolPolicy;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * An `http` tool for the scheduler and the MCP adapter: method and URL template fixed at definition
 * time, arguments validated against the declared parameters, requests run through an `HttpPool`
 * (so its limits, deadlines, retries, body caps and SSRF guards apply).
 */
export function httpTool(pool: HttpPool, definition: HttpToolDefinition): DescribedTool<Record<string, unknown>, HttpResponse> {
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
  return {
    name: definition.name,
    description: definition.description ?? `${definition.method ?? 'GET'} ${origin}`,
    inputSchema: parametersSchema(parameters),
    policy: definition.policy,
    run: async (params, ctx) => {
      const args = checkArguments(parameters, params);
      const url = definition.url.replace(PLACEHOLDER, (_, name: string) => encodeURIComponent(args[name] === undefined ? '' : String(args[name])));
      const body = definition.body === 'arguments' ? args : definition.body === undefined ? undefined : fill(definition.body, args);
      return pool.request({ url, method: definition.method, headers: definition.headers, body, timeoutMs: definition.timeoutMs }, { signal: ctx.signal });
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
