/**
 * The fixture's multi-round-trip tools and prompt (2026-07-28, SEP-2322 "input required"): what the
 * `input-required-result-*` scenarios of @modelcontextprotocol/conformance 0.2.0-alpha call, by the
 * names their sources document. A handler answers `inputRequired(...)` until the client retries with
 * the `inputResponses` it asked for; `requestState` is sealed by an HMAC codec (the SDK's
 * `createRequestStateCodec`) so a tampered one is refused with -32602. On a 2025-era connection the
 * SDK turns each round into push requests (`elicitation/create`, ...), so the same tools serve both eras.
 */
import {
  inputRequired,
  inputResponse,
  type CallToolResult,
  type InputRequest,
  type InputRequiredResult,
  type McpServer,
  type RequestStateCodec,
  type ServerContext,
} from '@modelcontextprotocol/server';

/** The payload sealed into `requestState`: which round of which tool, and what earlier rounds gave. */
export interface MrtrState {
  readonly tool: string;
  readonly round: number;
  readonly name?: string;
}

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });
const stringField = (schemaProperty: string) => ({ type: 'object' as const, properties: { [schemaProperty]: { type: 'string' as const } }, required: [schemaProperty] });

/** The accepted elicitation content's `field`, when the client answered `key` with a string there. */
function accepted(ctx: ServerContext, key: string, field: string): string | undefined {
  const view = inputResponse(ctx.mcpReq.inputResponses, key);
  const value = view.kind === 'elicit' && view.action === 'accept' ? view.content?.[field] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** True when every key has a response of the kind its request asked for. */
function answered(ctx: ServerContext, requests: Readonly<Record<string, InputRequest>>): boolean {
  const kinds: Record<string, string> = { 'elicitation/create': 'elicit', 'sampling/createMessage': 'sampling', 'roots/list': 'roots' };
  return Object.entries(requests).every(([key, request]) => inputResponse(ctx.mcpReq.inputResponses, key).kind === kinds[request.method]);
}

/** The client's declared capabilities, from the 2026-07-28 envelope (or the 2025 handshake). */
function clientCapabilities(server: McpServer, ctx: ServerContext): Record<string, unknown> {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const fromEnvelope = envelope?.['io.modelcontextprotocol/clientCapabilities'];
  if (typeof fromEnvelope === 'object' && fromEnvelope !== null) return fromEnvelope as Record<string, unknown>;
  return (server.server.getClientCapabilities() ?? {}) as Record<string, unknown>;
}

/** Registers the `test_input_required_result_*` tools and the `test_input_required_result_prompt` prompt. */
export function registerMrtr(server: McpServer, codec: RequestStateCodec<MrtrState>): void {
  const state = (ctx: ServerContext): MrtrState | undefined => ctx.mcpReq.requestState<MrtrState>();
  const askName = inputRequired.elicit({ message: 'What is your name?', requestedSchema: stringField('name') });

  server.registerTool('test_input_required_result_elicitation', { description: 'Asks for a name (input required), then greets' }, (ctx): CallToolResult | InputRequiredResult => {
    const name = accepted(ctx, 'user_name', 'name');
    return name === undefined ? inputRequired({ inputRequests: { user_name: askName } }) : text(`Hello, ${name}!`);
  });

  server.registerTool('test_input_required_result_sampling', { description: 'Asks the client for a completion (input required), then returns it' }, (ctx) => {
    const view = inputResponse(ctx.mcpReq.inputResponses, 'capital_question');
    if (view.kind !== 'sampling') {
      const question = inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }], maxTokens: 100 });
      return inputRequired({ inputRequests: { capital_question: question } });
    }
    const content = Array.isArray(view.result.content) ? view.result.content[0] : view.result.content;
    return text(`Sampling said: ${content?.type === 'text' ? content.text : JSON.stringify(content)}`);
  });

  server.registerTool('test_input_required_result_list_roots', { description: "Asks for the client's roots (input required), then lists them" }, (ctx) => {
    const view = inputResponse(ctx.mcpReq.inputResponses, 'client_roots');
    if (view.kind !== 'roots') return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    return text(`Roots: ${view.roots.map((r) => r.uri).join(', ') || '(none)'}`);
  });

  server.registerTool('test_input_required_result_request_state', { description: 'Asks for a confirmation with a sealed requestState, then checks it' }, async (ctx) => {
    const confirmed = inputResponse(ctx.mcpReq.inputResponses, 'confirm');
    if (confirmed.kind === 'elicit' && state(ctx)?.tool === 'request_state') return text(`state-ok: confirmation ${confirmed.action}`);
    const confirm = inputRequired.elicit({ message: 'Please confirm', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } });
    return inputRequired({ inputRequests: { confirm }, requestState: await codec.mint({ tool: 'request_state', round: 1 }) });
  });

  server.registerTool('test_input_required_result_multiple_inputs', { description: 'Asks for an elicitation, a completion and the roots at once' }, async (ctx) => {
    const requests = {
      user_name: askName,
      greeting: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }], maxTokens: 50 }),
      client_roots: inputRequired.listRoots(),
    };
    if (state(ctx)?.tool === 'multiple_inputs' && answered(ctx, requests)) return text(`All inputs received: ${Object.keys(requests).join(', ')}`);
    return inputRequired({ inputRequests: requests, requestState: await codec.mint({ tool: 'multiple_inputs', round: 1 }) });
  });

  server.registerTool('test_input_required_result_multi_round', { description: 'Two rounds of elicitation, the state carried in requestState' }, async (ctx) => {
    const previous = state(ctx);
    const name = previous?.tool === 'multi_round' && previous.round === 1 ? accepted(ctx, 'step1', 'name') : undefined;
    const color = previous?.tool === 'multi_round' && previous.round === 2 ? accepted(ctx, 'step2', 'color') : undefined;
    if (color !== undefined) return text(`${previous?.name ?? 'You'} likes ${color}`);
    if (name !== undefined) {
      const step2 = inputRequired.elicit({ message: 'Step 2: What is your favorite color?', requestedSchema: stringField('color') });
      return inputRequired({ inputRequests: { step2 }, requestState: await codec.mint({ tool: 'multi_round', round: 2, name }) });
    }
    const step1 = inputRequired.elicit({ message: 'Step 1: What is your name?', requestedSchema: stringField('name') });
    return inputRequired({ inputRequests: { step1 }, requestState: await codec.mint({ tool: 'multi_round', round: 1 }) });
  });

  server.registerTool('test_input_required_result_tampered_state', { description: 'Seals requestState; a tampered one is refused with -32602' }, async (ctx) => {
    if (state(ctx)?.tool === 'tampered_state') return text('requestState verified');
    return inputRequired({ inputRequests: { user_name: askName }, requestState: await codec.mint({ tool: 'tampered_state', round: 1 }) });
  });

  server.registerTool('test_input_required_result_capabilities', { description: 'Asks only for inputs whose capability the client declared' }, (ctx) => {
    const capabilities = clientCapabilities(server, ctx);
    const requests: Record<string, InputRequest> = {};
    if (capabilities['elicitation'] !== undefined) requests['user_name'] = askName;
    if (capabilities['sampling'] !== undefined) requests['greeting'] = inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }], maxTokens: 50 });
    if (capabilities['roots'] !== undefined) requests['client_roots'] = inputRequired.listRoots();
    if (Object.keys(requests).length === 0) return text('The client declared no capability to ask with');
    return answered(ctx, requests) ? text(`Received: ${Object.keys(requests).join(', ')}`) : inputRequired({ inputRequests: requests });
  });

  // The diagnostic tools of the `server-stateless` scenario (SEP-2575).
  server.registerTool('test_missing_capability', { description: 'Asks for a completion: the SDK answers -32021 when the client did not declare sampling' }, (ctx) => {
    const view = inputResponse(ctx.mcpReq.inputResponses, 'completion');
    if (view.kind === 'sampling') return text('The client sampled');
    return inputRequired({ inputRequests: { completion: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Say hi' } }], maxTokens: 10 }) } });
  });
  server.registerTool('test_streaming_elicitation', { description: 'Answers with an elicitation input request on its own response stream' }, (ctx) => {
    const name = accepted(ctx, 'user_name', 'name');
    return name === undefined ? inputRequired({ inputRequests: { user_name: askName } }) : text(`Hello, ${name}!`);
  });
  server.registerTool('test_logging_tool', { description: "Logs at info: sent only when the request's _meta sets a log level" }, async (ctx) => {
    await ctx.mcpReq.log('info', 'test_logging_tool ran', 'everything');
    return text('logged');
  });

  server.registerPrompt('test_input_required_result_prompt', { description: 'A prompt that asks the client for context first (input required)' }, (ctx) => {
    const context = accepted(ctx, 'user_context', 'context');
    if (context === undefined) {
      return inputRequired({ inputRequests: { user_context: inputRequired.elicit({ message: 'What context should the prompt use?', requestedSchema: stringField('context') }) } });
    }
    return { messages: [{ role: 'user', content: { type: 'text', text: `Use this context: ${context}` } }] };
  });
}
