/**
 * The project's own "everything" MCP server on SDK v2 (`@modelcontextprotocol/server`): every tool,
 * resource and prompt that the official conformance suite's server scenarios call, by the names
 * the suite's scenario sources document (`src/scenarios/server/*.ts` of
 * modelcontextprotocol/conformance 0.1.16). It is the upstream that `npm run conformance` puts
 * `mcp-concurrency proxy` in front of, and the upstream for SDK-client tests of the proxy.
 *
 * One `createEverythingServer()` call builds one server instance: one stdio connection, one
 * 2025-era HTTP session, or one 2026-07-28 request. Per-instance state (resource subscriptions)
 * stays in that instance, so two clients never see each other's subscriptions.
 */
import { randomBytes } from 'node:crypto';
import {
  createRequestStateCodec,
  fromJsonSchema,
  McpServer,
  ResourceTemplate,
  type CallToolResult,
  type ElicitRequestFormParams,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { registerMrtr, type MrtrState } from './everything-mrtr.js';

/** A 1x1 PNG, base64 (what the image tool, resource and prompt return). */
export const TEST_PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
/** A minimal WAV header, base64 (what the audio tool returns). */
export const TEST_WAV_BASE64 = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
/** The URI of the resource that `resources/subscribe` scenarios watch. */
export const WATCHED_RESOURCE_URI = 'test://watched-resource';

/**
 * The input schema of `json_schema_2020_12_tool`: SEP-1613 requires `$schema`, `$defs` and
 * `additionalProperties` to reach the client exactly as written, SEP-2106 (2026-07-28) also `$anchor`,
 * `allOf` / `anyOf` and `if` / `then` / `else`.
 */
export const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
} as const;

/** `test_custom_header`'s input: `x-mcp-header` is an extension keyword, so it is declared outside the literal type check. */
const REGION_SCHEMA = { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } }, required: ['region'] } as const;

/** Options of {@link createEverythingServer}. */
export interface EverythingOptions {
  /**
   * The server's `serverInfo.name`.
   * @default 'mcp-concurrency-everything'
   */
  readonly name?: string;
  /**
   * Milliseconds between the notifications of `test_tool_with_logging` and `test_tool_with_progress`
   * (the scenarios ask for about 50 ms, to show that notifications arrive while the call runs).
   * @default 50
   */
  readonly stepMs?: number;
  /**
   * HMAC key (at least 32 bytes) that seals the multi-round-trip tools' `requestState`. Every server
   * instance that may see a later round of the same call needs the same key: over HTTP each
   * 2026-07-28 request gets its own instance, so `startEverythingHttp` passes one key to all of them.
   * @default 32 random bytes per instance
   */
  readonly requestStateKey?: Uint8Array;
}

const NO_ARGS = fromJsonSchema({ type: 'object', properties: {} });
const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

/** Sleeps `ms`, or rejects with the signal's reason when the call is cancelled first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Asks the client for input (2025-era push elicitation) and reports what came back as text. */
async function elicit(ctx: ServerContext, params: ElicitRequestFormParams, label: string): Promise<CallToolResult> {
  try {
    const result = await ctx.mcpReq.elicitInput(params);
    return text(`${label}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
  } catch (error) {
    return { isError: true, content: [{ type: 'text', text: `Elicitation failed: ${error instanceof Error ? error.message : String(error)}` }] };
  }
}

function registerTools(server: McpServer, stepMs: number): void {
  server.registerTool('test_simple_text', { description: 'Returns one text block' }, () => text('This is a simple text response for testing.'));
  server.registerTool('test_image_content', { description: 'Returns one PNG image block' }, () => ({
    content: [{ type: 'image', data: TEST_PNG_BASE64, mimeType: 'image/png' }],
  }));
  server.registerTool('test_audio_content', { description: 'Returns one WAV audio block' }, () => ({
    content: [{ type: 'audio', data: TEST_WAV_BASE64, mimeType: 'audio/wav' }],
  }));
  server.registerTool('test_embedded_resource', { description: 'Returns one embedded text resource' }, () => ({
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
  }));
  server.registerTool('test_multiple_content_types', { description: 'Returns text, image and embedded resource blocks' }, () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: TEST_PNG_BASE64, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
    ],
  }));
  server.registerTool('test_tool_with_logging', { description: 'Sends three info log messages while it runs', inputSchema: NO_ARGS }, async (_args, ctx) => {
    for (const [i, message] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
      if (i > 0) await sleep(stepMs, ctx.mcpReq.signal);
      await ctx.mcpReq.log('info', message, 'everything');
    }
    return text('Tool with logging executed successfully');
  });
  server.registerTool('test_tool_with_progress', { description: 'Sends progress 0, 50, 100 of 100 for the caller\'s progressToken', inputSchema: NO_ARGS }, async (_args, ctx) => {
    const progressToken = ctx.mcpReq._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (progress > 0) await sleep(stepMs, ctx.mcpReq.signal);
      if (progressToken !== undefined) {
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` } });
      }
    }
    return text(String(progressToken ?? 'no progressToken'));
  });
  server.registerTool('test_error_handling', { description: 'Always fails (a tool error, isError: true)' }, () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  server.registerTool(
    'test_reconnection',
    { description: 'Closes its SSE stream mid-call (SEP-1699) and answers after the client reconnects', inputSchema: NO_ARGS },
    async (_args, ctx) => {
      ctx.http?.closeSSE?.();
      await sleep(100, ctx.mcpReq.signal);
      return text('Reconnection test completed successfully.');
    },
  );
  server.registerTool(
    'test_sampling',
    { description: 'Asks the client for an LLM completion of `prompt`', inputSchema: fromJsonSchema<{ prompt: string }>({ type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'] }) },
    async ({ prompt }, ctx) => {
      const result = await ctx.mcpReq.requestSampling({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 });
      const content = Array.isArray(result.content) ? result.content[0] : result.content;
      return text(`LLM response: ${content?.type === 'text' ? content.text : JSON.stringify(content)}`);
    },
  );
  server.registerTool(
    'test_elicitation',
    { description: 'Asks the client for input with `message`', inputSchema: fromJsonSchema<{ message: string }>({ type: 'object', properties: { message: { type: 'string' } }, required: ['message'] }) },
    ({ message }, ctx) =>
      elicit(ctx, { message, requestedSchema: { type: 'object', properties: { response: { type: 'string', description: "User's response" } }, required: ['response'] } }, 'User response'),
  );
  server.registerTool('test_elicitation_sep1034_defaults', { description: 'Elicitation whose fields carry defaults (SEP-1034)', inputSchema: NO_ARGS }, (_args, ctx) =>
    elicit(
      ctx,
      {
        message: 'Please review and update the form fields with defaults',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', description: 'Verification status', default: true },
          },
          required: [],
        },
      },
      'Elicitation completed',
    ),
  );
  server.registerTool('test_elicitation_sep1330_enums', { description: 'Elicitation with the five enum forms (SEP-1330)', inputSchema: NO_ARGS }, (_args, ctx) =>
    elicit(
      ctx,
      {
        message: 'Please select options from the enum fields',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              description: 'Select one option with titles',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: { type: 'string', description: 'Select one option (legacy)', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
            untitledMulti: { type: 'array', description: 'Select multiple options', minItems: 1, maxItems: 3, items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
            titledMulti: {
              type: 'array',
              description: 'Select multiple options with titles',
              minItems: 1,
              maxItems: 3,
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
          required: [],
        },
      },
      'Elicitation completed',
    ),
  );
  server.registerTool(
    'test_custom_header',
    {
      description: 'Takes `region`, which 2026-07-28 clients also send as the Mcp-Param-Region header (x-mcp-header, SEP-2243)',
      inputSchema: fromJsonSchema<{ region: string }>(REGION_SCHEMA),
    },
    ({ region }) => text(`region: ${region}`),
  );
  server.registerTool(
    'json_schema_2020_12_tool',
    { description: 'Takes a JSON Schema 2020-12 input: $defs with $anchor, allOf/anyOf, if/then/else, additionalProperties (SEP-1613, SEP-2106)', inputSchema: fromJsonSchema(JSON_SCHEMA_2020_12) },
    (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
  );
}

function registerResources(server: McpServer, subscriptions: Set<string>): void {
  server.registerResource('static-text', 'test://static-text', { title: 'Static Text Resource', description: 'A static text resource', mimeType: 'text/plain' }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
  }));
  server.registerResource('static-binary', 'test://static-binary', { title: 'Static Binary Resource', description: 'A static PNG resource', mimeType: 'image/png' }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'image/png', blob: TEST_PNG_BASE64 }],
  }));
  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'Resource Template', description: 'test://template/{id}/data: JSON naming the id', mimeType: 'application/json' },
    (uri, variables) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id: variables['id'], templateTest: true, data: `Data for ID: ${String(variables['id'])}` }) }],
    }),
  );
  server.registerResource('watched-resource', WATCHED_RESOURCE_URI, { title: 'Watched Resource', description: 'A resource to subscribe to', mimeType: 'text/plain' }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: `Watched resource content (${subscriptions.has(uri.href) ? 'subscribed' : 'not subscribed'})` }],
  }));
  server.server.setRequestHandler('resources/subscribe', (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.server.setRequestHandler('resources/unsubscribe', (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });
}

function registerPrompts(server: McpServer): void {
  server.registerPrompt('test_simple_prompt', { title: 'Simple Test Prompt', description: 'A prompt without arguments' }, () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
  }));
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt With Arguments',
      description: 'A prompt with two required arguments, arg1 and arg2',
      argsSchema: fromJsonSchema<{ arg1: string; arg2: string }>({
        type: 'object',
        properties: { arg1: { type: 'string', description: 'First test argument' }, arg2: { type: 'string', description: 'Second test argument' } },
        required: ['arg1', 'arg2'],
      }),
    },
    ({ arg1, arg2 }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }] }),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that embeds the resource named by resourceUri',
      argsSchema: fromJsonSchema<{ resourceUri: string }>({ type: 'object', properties: { resourceUri: { type: 'string', description: 'URI of the resource to embed' } }, required: ['resourceUri'] }),
    },
    ({ resourceUri }) => ({
      messages: [
        { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  server.registerPrompt('test_prompt_with_image', { title: 'Prompt With Image', description: 'A prompt with an image' }, () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: TEST_PNG_BASE64, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }));
}

/**
 * Builds one "everything" server instance: tools, resources (with subscribe), prompts, logging and
 * completions, as the conformance suite's server scenarios call them.
 *
 * @example
 * ```ts
 * import { serveStdio } from '@modelcontextprotocol/server/stdio';
 * serveStdio(() => createEverythingServer());
 * ```
 */
export function createEverythingServer(options: EverythingOptions = {}): McpServer {
  const codec = createRequestStateCodec<MrtrState>({ key: options.requestStateKey ?? randomBytes(32) });
  const server = new McpServer(
    { name: options.name ?? 'mcp-concurrency-everything', version: '1.0.0' },
    {
      requestState: { verify: (state, ctx) => codec.verify(state, ctx) },
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
      instructions: 'The mcp-concurrency conformance fixture: every tool, resource and prompt the MCP conformance server scenarios call.',
    },
  );
  registerTools(server, options.stepMs ?? 50);
  registerResources(server, new Set());
  registerPrompts(server);
  registerMrtr(server, codec);
  server.server.setRequestHandler('completion/complete', (request) => {
    const value = request.params.argument.value;
    const values = ['test', 'testing', 'tested'].filter((v) => v.startsWith(value));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}
