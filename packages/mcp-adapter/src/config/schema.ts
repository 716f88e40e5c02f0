/**
 * The configuration file's JSON Schema: the seed's gantz.yaml shape (name, concurrency.max_parallel,
 * thread_pool_size, rate_limits.<name>.requests_per_second, tools[].name/description/parameters/
 * concurrency/script) plus the extensions: burst_size, per-tool rate_limit, timeout, retry,
 * redis_url, http, sql and worker tools, proxy rules and the batch tool.
 */
/**
 * The largest timer Node keeps: a longer `setTimeout` fires at once. Every duration, written as a
 * number or a string, must fit (strings are checked after conversion, in load.ts).
 */
export const MAX_DURATION_MS = 2_147_483_647;

const duration = {
  oneOf: [
    { type: 'number', exclusiveMinimum: 0, maximum: MAX_DURATION_MS },
    { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m)?\\s*$' },
  ],
  description: 'milliseconds, or a string such as "250ms", "5s", "2m"',
};

/** A count with a sane ceiling: a typo (`max_parallel: 1e9`) is an error, not a server that never says no. */
const count = (maximum: number): { type: 'integer'; minimum: 1; maximum: number } => ({ type: 'integer', minimum: 1, maximum });
const MAX_PARALLEL = 10_000;
const MAX_BYTES = 1024 ** 3;
/** Open Streamable HTTP sessions (`server.max_sessions`, `--max-sessions`): each holds a server, and a proxy's an upstream session. */
export const MAX_SESSIONS = 100_000;

const retry = {
  oneOf: [
    { type: 'integer', minimum: 0, maximum: 100 },
    {
      type: 'object',
      additionalProperties: false,
      required: ['retries'],
      properties: { retries: { type: 'integer', minimum: 0, maximum: 100 }, min_delay: duration, max_delay: duration, factor: { type: 'number', minimum: 1, maximum: 100 } },
    },
  ],
};

const parameter = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    type: { enum: ['string', 'number', 'integer', 'boolean', 'array', 'object'] },
    required: { type: 'boolean' },
    description: { type: 'string' },
  },
};

const toolConcurrency = { type: 'object', additionalProperties: false, properties: { max_parallel: count(MAX_PARALLEL) } };

const annotations = {
  type: 'object',
  additionalProperties: false,
  properties: {
    title: { type: 'string' },
    readOnlyHint: { type: 'boolean' },
    destructiveHint: { type: 'boolean' },
    idempotentHint: { type: 'boolean' },
    openWorldHint: { type: 'boolean' },
    resource_argument: { type: 'string' },
  },
};

const methodPolicy = { type: 'object', additionalProperties: false, properties: { concurrency: toolConcurrency, rate_limit: { type: 'string' }, timeout: duration } };

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'tools'],
  properties: {
    name: { type: 'string', minLength: 1 },
    version: { type: 'string' },
    concurrency: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_parallel: count(MAX_PARALLEL),
        thread_pool_size: count(1_024),
        max_queued: { type: 'integer', minimum: 0, maximum: 1_000_000 },
        max_per_session: count(MAX_PARALLEL),
        timeout: duration,
        queue_timeout: duration,
        redis_url: { type: 'string', pattern: '^rediss?://' },
        rate_limits: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['requests_per_second'],
            properties: {
              requests_per_second: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 },
              // A burst below 1 could never admit a call of cost 1: every call would wait forever.
              burst_size: { type: 'number', minimum: 1, maximum: 1_000_000_000 },
            },
          },
        },
      },
    },
    database: { type: 'object', additionalProperties: false, required: ['url'], properties: { url: { type: 'string', pattern: '^postgres(ql)?://' }, max: count(1_000), read_only: { type: 'boolean' } } },
    http: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allow_origins: { type: 'array', items: { type: 'string' } },
        allow_private_network: { type: 'boolean' },
        max_body_bytes: count(MAX_BYTES),
      },
    },
    // The Streamable HTTP endpoint of `serve --http` and `proxy --http` (not the http tools: that is `http`).
    server: { type: 'object', additionalProperties: false, properties: { max_sessions: count(MAX_SESSIONS), session_idle: duration } },
    metrics: { type: 'object', additionalProperties: false, properties: { process_metrics: { type: 'boolean' } } },
    limits: { type: 'object', additionalProperties: false, properties: { max_argument_bytes: count(64 * 1024 ** 2), max_output_bytes: count(MAX_BYTES) } },
    batch: { oneOf: [{ type: 'boolean' }, { type: 'object', additionalProperties: false, properties: { max_calls: count(1_000) } }] },
    tools: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          description: { type: 'string' },
          parameters: { type: 'array', items: parameter },
          concurrency: toolConcurrency,
          rate_limit: { type: 'string' },
          timeout: duration,
          retry,
          annotations,
          script: {
            type: 'object',
            additionalProperties: false,
            required: ['command'],
            properties: {
              command: { type: 'string', minLength: 1 },
              args: { type: 'array', items: { type: 'string' } },
              cwd: { type: 'string' },
              env: { type: 'object', additionalProperties: { type: 'string' } },
              output: { enum: ['text', 'json'] },
            },
          },
          http: {
            type: 'object',
            additionalProperties: false,
            required: ['url'],
            properties: {
              method: { type: 'string', pattern: '^[A-Za-z]+$' },
              url: { type: 'string' },
              headers: { type: 'object', additionalProperties: { type: 'string' } },
              body: { oneOf: [{ const: 'arguments' }, { type: 'object' }] },
            },
          },
          sql: { type: 'object', additionalProperties: false, required: ['query'], properties: { query: { type: 'string', minLength: 1 } } },
          worker: {
            type: 'object',
            additionalProperties: false,
            required: ['module'],
            properties: { module: { type: 'string', minLength: 1 }, export: { type: 'string', minLength: 1 } },
          },
        },
      },
    },
    proxy: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tools: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['match'],
            properties: { match: { type: 'string', minLength: 1 }, concurrency: toolConcurrency, rate_limit: { type: 'string' }, timeout: duration, retry },
          },
        },
        // resources/read and prompts/get under limits of their own (no retry: the upstream's errors are answers).
        resources_read: methodPolicy,
        prompts_get: methodPolicy,
      },
    },
  },
} as const;
