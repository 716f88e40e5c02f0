/** Typed tool parameters: declared arguments of configured tools, their JSON Schema and their checks. */
import { McpConcurrencyError } from './errors.js';
import type { Tool } from './types.js';

export type ParameterType = 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object';

/** One declared argument of a tool defined by configuration (SQL, HTTP, script tools). */
export interface ParameterSpec {
  readonly type: ParameterType;
  /** @default true */
  readonly required?: boolean;
  readonly description?: string;
}

/** A tool with what an MCP server lists: a description and a JSON Schema for its arguments. */
export interface DescribedTool<P = unknown, R = unknown> extends Tool<P, R> {
  readonly description: string;
  readonly inputSchema: JsonObjectSchema;
}

export interface JsonObjectSchema {
  readonly type: 'object';
  readonly properties: Record<string, Record<string, unknown>>;
  readonly required: string[];
  readonly additionalProperties?: boolean;
}

/** The JSON Schema of declared parameters (what `tools/list` shows a model). */
export function parametersSchema(parameters: Readonly<Record<string, ParameterSpec>>): JsonObjectSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(
      Object.entries(parameters).map(([name, p]) => [name, p.description ? { type: p.type, description: p.description } : { type: p.type }]),
    ),
    required: Object.entries(parameters).filter(([, p]) => p.required !== false).map(([name]) => name),
    additionalProperties: false,
  };
}

/**
 * Checks a call's arguments against declared parameters: an object, every required one present,
 * each of its type, nothing undeclared. Throws `invalid_params` naming the field.
 */
export function checkArguments(parameters: Readonly<Record<string, ParameterSpec>>, args: unknown): Record<string, unknown> {
  const input = args ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new McpConcurrencyError('invalid_params', `Expected the arguments to be an object, got ${Array.isArray(input) ? 'array' : typeof input}`);
  }
  const record = input as Record<string, unknown>;
  for (const [name, spec] of Object.entries(parameters)) {
    const value = record[name];
    if (value === undefined || value === null) {
      if (spec.required !== false) throw new McpConcurrencyError('invalid_params', `Missing required argument "${name}" (${spec.type})`);
      continue;
    }
    if (!hasType(value, spec.type)) {
      const got = Array.isArray(value) ? 'array' : typeof value;
      throw new McpConcurrencyError('invalid_params', `Argument "${name}" must be ${spec.type === 'integer' || spec.type === 'array' || spec.type === 'object' ? 'an' : 'a'} ${spec.type}, got ${got}`);
    }
  }
  const unknown = Object.keys(record).filter((k) => !(k in parameters));
  if (unknown.length > 0) throw new McpConcurrencyError('invalid_params', `Unknown argument ${unknown.map((k) => `"${k}"`).join(', ')}`);
  return record;
}

function hasType(value: unknown, type: ParameterType): boolean {
  switch (type) {
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    default:
      return typeof value === type;
  }
}
