import { createContextKey, type Context, type Span } from '@opentelemetry/api';

/**
 * A span offered to the scheduler call a request runs, so a request and its call make one span, not
 * two: `McpTracing.server` offers its SERVER span for `tools/call` (the MCP conventions put the
 * tool's execution on that span: `gen_ai.operation.name = execute_tool`), and the first
 * `TracingObserver` call queued (or refused) in that context takes it instead of starting an
 * `execute_tool` span. Later calls in the same context (calls a tool makes) get spans of their own.
 */
export interface OfferedSpan {
  readonly span: Span;
  taken: boolean;
}

/** The context key of an `OfferedSpan`: a symbol only this package's classes use. */
export const OFFERED_SPAN = createContextKey('@mcp-concurrency/tracing-opentelemetry offered call span');

export function offerSpan(span: Span): OfferedSpan {
  return { span, taken: false };
}

/** The span offered in `ctx`, now marked taken; `undefined` when none is offered or it is taken already. */
export function takeOfferedSpan(ctx: Context): Span | undefined {
  const offer = ctx.getValue(OFFERED_SPAN) as OfferedSpan | undefined;
  if (offer === undefined || offer.taken) return undefined;
  offer.taken = true;
  return offer.span;
}
