import { checkNonNegativeInteger, invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';
import {
  type SchedulerObserver,
  type Tool,
  type ToolCall,
  type ToolContext,
  type ToolErrorInfo,
  type ToolResult,
} from '@mcp-concurrency/core-scheduler';
import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import {
  ATTR_ATTEMPT,
  ATTR_ATTEMPTS,
  ATTR_DEADLINE,
  ATTR_DEADLINE_MS,
  ATTR_ERROR_CODE,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_LIMITER,
  ATTR_LIMITER_WAITED_MS,
  ATTR_QUEUED_MS,
  ATTR_RETRY_DELAY_MS,
  ATTR_RUN_MS,
  ATTR_STATUS,
  ATTR_WAITED_MS,
  EVENT_ATTEMPT,
  EVENT_DEADLINE,
  EVENT_LIMITER_WAIT,
  EVENT_RETRY,
  EXECUTE_TOOL,
} from './attributes.js';
import { takeOfferedSpan } from './call-span.js';
import { contentAttribute } from './content.js';

export interface TracingObserverOptions {
  /**
   * The tracer the spans are made with, from a `TracerProvider` you own.
   * @example provider.getTracer('@mcp-concurrency/tracing-opentelemetry')
   */
  readonly tracer: Tracer;
  /**
   * Record `gen_ai.tool.call.arguments` and `gen_ai.tool.call.result` (JSON). Opt-in in the
   * conventions: they may hold secrets and personal data. @default false
   */
  readonly recordContent?: boolean;
  /** Longest JSON recorded for arguments or a result, in characters; longer is cut. @default 4096 */
  readonly maxContentLength?: number;
}

/** How many tools keep their span name cached (a proxy's tools are whatever its upstreams list). */
const MAX_CACHED_NAMES = 1024;

/** One call's span and the context its tool runs in. */
interface CallSpan {
  readonly span: Span;
  /** The context its tool runs in; `undefined` when the span carries nothing (a no-op tracer: no SDK). */
  readonly context: Context | undefined;
  readonly recording: boolean;
  /** False for a span offered by `McpTracing.server` (its SERVER span): its owner ends it. */
  readonly owned: boolean;
}

/**
 * A `SchedulerObserver` that gives every call an `execute_tool {tool}` span (kind INTERNAL, the
 * GenAI tool-execution convention) from submission to settlement, child of the context active
 * where the call was submitted. On it: `gen_ai.*` attributes, `error.type` (the call's error code)
 * and status ERROR for every outcome but `ok`, and our detail: `mcp_concurrency.call.*` (status,
 * queued ms, run ms, attempts), events for each limiter wait, attempt, retry and the deadline that
 * fired. A call refused before it was queued (`closed`, unknown tool, bad input) or skipped for a
 * failed dependency gets a span of zero length (one refused `queue_full` was queued first: its span ends at the refusal).
 *
 * For HTTP headers, SQL comments and MCP `_meta` to carry the call's span, run its tool inside it:
 * register `observer.wrap(tool)` instead of `tool` (see `wrap`).
 *
 * @example
 * const tracing = new TracingObserver({ tracer: provider.getTracer('tools') });
 * const scheduler = new Scheduler({ tools: [tracing.wrap(search)], observers: [tracing] });
 */
export class TracingObserver implements SchedulerObserver {
  readonly #tracer: Tracer;
  readonly #recordContent: boolean;
  readonly #maxContentLength: number;
  readonly #open = new Map<ToolCall, CallSpan>();
  /** `execute_tool {tool}` by tool: span names built once. */
  readonly #names = new Map<string, string>();
  /** The span of the call whose tool is about to run: set by onStart, taken by the wrapped run in the same synchronous step. */
  #starting: CallSpan | undefined;
  #closed = false;
  #idle: (() => void) | undefined;

  constructor(options: TracingObserverOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an options object', options);
    const tracer = options.tracer as Partial<Tracer> | undefined;
    if (typeof tracer !== 'object' || tracer === null || typeof tracer.startSpan !== 'function') {
      throw invalidArgument('tracer', 'an OpenTelemetry Tracer', options.tracer);
    }
    if (options.recordContent !== undefined && typeof options.recordContent !== 'boolean') {
      throw invalidArgument('recordContent', 'a boolean', options.recordContent);
    }
    this.#tracer = options.tracer;
    this.#recordContent = options.recordContent ?? false;
    this.#maxContentLength =
      options.maxContentLength === undefined ? 4096 : checkNonNegativeInteger('maxContentLength', options.maxContentLength);
  }

  /** Spans started and not yet ended. */
  get openSpans(): number {
    return this.#open.size;
  }

  onQueued(call: ToolCall): void {
    if (this.#closed) return;
    const parent = context.active();
    const offered = takeOfferedSpan(parent);
    if (offered !== undefined) {
      // The request's SERVER span is this call's span: its context is already the active one.
      const recording = offered.isRecording();
      if (recording) offered.setAttributes(this.#callAttributes(call, false));
      this.#open.set(call, { span: offered, context: parent, recording, owned: false });
      return;
    }
    const span = this.#tracer.startSpan(this.#name(call.tool), { kind: SpanKind.INTERNAL, attributes: this.#callAttributes(call, true) }, parent);
    const recording = span.isRecording();
    // A span that records nothing still carries its (unsampled) context downstream, unless it is invalid.
    const carried = recording || isSpanContextValid(span.spanContext()) ? trace.setSpan(parent, span) : undefined;
    this.#open.set(call, { span, context: carried, recording, owned: true });
  }

  onStart(call: ToolCall, waitedMs: number, attempt: number): void {
    const entry = this.#open.get(call);
    this.#starting = entry;
    // The first start is the span's `queued_ms`; an event marks each later one (a retry's).
    if (attempt > 1 && entry?.recording === true) entry.span.addEvent(EVENT_ATTEMPT, { [ATTR_ATTEMPT]: attempt, [ATTR_WAITED_MS]: waitedMs });
  }

  onLimiterWait(limiter: string, waitedMs: number, call?: ToolCall): void {
    const entry = call === undefined ? undefined : this.#open.get(call);
    if (entry?.recording === true) entry.span.addEvent(EVENT_LIMITER_WAIT, { [ATTR_LIMITER]: limiter, [ATTR_LIMITER_WAITED_MS]: waitedMs });
  }

  onRetry(call: ToolCall, attempt: number, delayMs: number, error: ToolErrorInfo): void {
    const entry = this.#open.get(call);
    if (entry?.recording === true) {
      entry.span.addEvent(EVENT_RETRY, { [ATTR_ATTEMPT]: attempt, [ATTR_RETRY_DELAY_MS]: delayMs, [ATTR_ERROR_CODE]: error.code });
    }
  }

  onSettled(result: ToolResult, call?: ToolCall): void {
    let entry = call === undefined ? undefined : this.#open.get(call);
    let endTime: number | undefined;
    if (entry !== undefined) this.#open.delete(call!);
    else {
      // Never queued: refused at the door or skipped. A zero-length span still shows it in the trace.
      if (this.#closed) return;
      // An unknown tool's name is whatever the caller sent: kept out of the span name and attributes (cardinality).
      const known = result.error?.code !== 'unknown_tool';
      const offered = takeOfferedSpan(context.active());
      if (offered !== undefined) {
        const recording = offered.isRecording();
        if (recording && call !== undefined && known) offered.setAttributes(this.#callAttributes(call, false));
        entry = { span: offered, context: undefined, recording, owned: false };
      } else {
        const attributes: Attributes =
          call !== undefined && known ? this.#callAttributes(call, true) : { [ATTR_GEN_AI_OPERATION_NAME]: EXECUTE_TOOL, ...(known && { [ATTR_GEN_AI_TOOL_NAME]: result.tool }) };
        endTime = Date.now();
        const span = this.#tracer.startSpan(known ? this.#name(result.tool) : EXECUTE_TOOL, { kind: SpanKind.INTERNAL, attributes, startTime: endTime });
        entry = { span, context: undefined, recording: span.isRecording(), owned: true };
      }
    }
    if (entry.recording) this.#finish(entry.span, result, call);
    if (entry.owned) entry.span.end(endTime);
    if (this.#open.size === 0 && this.#idle !== undefined) this.#idle();
  }

  /**
   * The same tool (a copy with every field), whose `run` executes inside its call's span (the active context), so HTTP
   * headers, SQL comments and MCP `_meta` written while it runs carry that span. It relies on the
   * scheduler calling `onStart` and then the tool's `run` in one synchronous step (core-scheduler
   * does); under a scheduler this observer is not attached to, the tool runs as it is.
   */
  wrap<P, R>(tool: Tool<P, R>): Tool<P, R> {
    const run = (params: P, ctx: ToolContext): R | Promise<R> => {
      const carried = this.#starting?.context;
      this.#starting = undefined;
      // No context to enter when the span carries nothing, or its context is the active one already (a request's span).
      if (carried === undefined || carried === context.active()) return tool.run(params, ctx);
      return context.with(carried, tool.run, tool, params, ctx);
    };
    // Every other field (a DescribedTool's description and parameters) comes along.
    const wrapped: Tool<P, R> = { ...tool, name: tool.name, run };
    return tool.policy === undefined ? wrapped : { ...wrapped, policy: tool.policy };
  }

  /** Starts no new spans; resolves when every open span has ended (its call settled). Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#idle;
      this.#idle = () => {
        this.#idle = undefined;
        previous?.();
        resolve();
      };
    });
  }

  /** Starts no new spans and ends the open ones now, marked `mcp_concurrency.call.status = closed`. Idempotent. */
  destroy(): Promise<void> {
    this.#closed = true;
    for (const { span, recording, owned } of this.#open.values()) {
      if (recording) span.setAttribute(ATTR_STATUS, 'closed');
      // A request's span is ended by its request.
      if (owned) span.end();
    }
    this.#open.clear();
    this.#starting = undefined;
    this.#idle?.();
    return Promise.resolve();
  }

  /** `execute_tool {tool}`, built once per tool. */
  #name(tool: string): string {
    let name = this.#names.get(tool);
    if (name === undefined) {
      name = `${EXECUTE_TOOL} ${tool}`;
      if (this.#names.size < MAX_CACHED_NAMES) this.#names.set(tool, name);
    }
    return name;
  }

  /** The call's attributes; without the operation and tool name on a request's span (it has them). */
  #callAttributes(call: ToolCall, own: boolean): Attributes {
    const attributes: Attributes = own ? { [ATTR_GEN_AI_OPERATION_NAME]: EXECUTE_TOOL, [ATTR_GEN_AI_TOOL_NAME]: call.tool } : {};
    if (typeof call.id === 'string') attributes[ATTR_GEN_AI_TOOL_CALL_ID] = call.id;
    if (this.#recordContent) {
      const args = contentAttribute(call.params, this.#maxContentLength);
      if (args !== undefined) attributes[ATTR_GEN_AI_TOOL_CALL_ARGUMENTS] = args;
    }
    return attributes;
  }

  #finish(span: Span, result: ToolResult, call: ToolCall | undefined): void {
    const attributes: Attributes = {
      [ATTR_STATUS]: result.status,
      [ATTR_QUEUED_MS]: result.queuedMs,
      [ATTR_RUN_MS]: result.runMs,
      [ATTR_ATTEMPTS]: result.attempts,
    };
    if (result.status === 'ok') {
      if (this.#recordContent) {
        const value = contentAttribute(result.value, this.#maxContentLength);
        if (value !== undefined) attributes[ATTR_GEN_AI_TOOL_CALL_RESULT] = value;
      }
      span.setAttributes(attributes);
      return;
    }
    const code = result.error?.code ?? result.status;
    attributes[ATTR_ERROR_CODE] = code;
    attributes[ATTR_ERROR_TYPE] = code;
    if (code === 'timeout' || code === 'queue_timeout') {
      const which = code === 'timeout' ? 'run' : 'queue';
      const ms = which === 'run' ? call?.timeoutMs : call?.queueTimeoutMs;
      attributes[ATTR_DEADLINE] = which;
      const event: Attributes = { [ATTR_DEADLINE]: which };
      if (ms !== undefined) attributes[ATTR_DEADLINE_MS] = event[ATTR_DEADLINE_MS] = ms;
      span.addEvent(EVENT_DEADLINE, event);
    }
    span.setAttributes(attributes);
    span.setStatus({ code: SpanStatusCode.ERROR, message: result.error?.message ?? result.status });
  }
}
