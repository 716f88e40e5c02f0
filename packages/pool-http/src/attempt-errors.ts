import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';
import type { Dispatcher } from 'undici';
import { parseRetryAfter } from './response.js';

/** RFC 9110 9.2.2: methods a client may repeat without changing the outcome. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
/** RFC 9110 10.2.3 and RFC 6585 4: the statuses where `Retry-After` says when to come back. */
const BACK_OFF_STATUSES = new Set([429, 503]);
const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'ECONNREFUSED', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** True for the methods whose failed attempts may be retried. */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/**
 * A status of 400 or more as `http_error`: `retryable` for an idempotent method on 429, 502, 503 or 504,
 * `retryAfterMs` from `Retry-After` (seconds or an HTTP date) on a 429 or 503. `excerpt` (the start of the
 * error body, see {@link errorExcerpt}) ends the message, so a model can read why ("no item A-1").
 */
export function statusError(status: number, headers: Dispatcher.ResponseData['headers'], method: string, label: string, excerpt = ''): McpConcurrencyError {
  const retryAfterMs = BACK_OFF_STATUSES.has(status) ? parseRetryAfter(headers['retry-after']) : undefined;
  const retryable = IDEMPOTENT.has(method) && RETRY_STATUSES.has(status);
  const wait = retryAfterMs === undefined ? '' : `; Retry-After ${retryAfterMs} ms`;
  return new McpConcurrencyError('http_error', `${label} answered HTTP ${status}${wait}${excerpt === '' ? '' : `: ${excerpt}`}`, { retryable, retryAfterMs });
}

/** Bytes of an error body read at most (the rest is destroyed, not read), and characters of it quoted. */
const ERROR_BODY_READ_BYTES = 64 * 1024;
const ERROR_EXCERPT_CHARS = 300;
const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|problem\+json)\b)/i;

/**
 * The start of an error response's body as one line of text (at most 300 characters, control characters
 * dropped, whitespace collapsed), for a textual or untyped body; '' for a binary one or when the body
 * fails. Reads at most 64 KiB and destroys the rest, so the connection is reused only when it was small.
 */
export async function errorExcerpt(body: Dispatcher.ResponseData['body'], headers: Dispatcher.ResponseData['headers']): Promise<string> {
  const type = headers['content-type'];
  const textual = type === undefined || TEXTUAL.test(String(type));
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (textual && bytes < ERROR_BODY_READ_BYTES) chunks.push(chunk);
      bytes += chunk.length;
      if (bytes >= ERROR_BODY_READ_BYTES) break; // leaving the loop destroys the body
    }
  } catch {
    return '';
  }
  if (!textual) return '';
  const text = Buffer.concat(chunks).toString('utf8').replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return text.length > ERROR_EXCERPT_CHARS ? `${text.slice(0, ERROR_EXCERPT_CHARS)}…` : text;
}

/** Anything else an attempt throws, as a coded error. */
export function attemptError(error: unknown, method: string, label: string, signal: AbortSignal | undefined): McpConcurrencyError {
  if (error instanceof McpConcurrencyError) return error;
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof McpConcurrencyError) return reason;
    return new McpConcurrencyError('cancelled', `${label}: cancelled (${describeThrown(reason)})`, { cause: reason });
  }
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause instanceof McpConcurrencyError) return cause; // the guard's lookup refused the address
  const code = String((error as { code?: unknown } | null)?.code ?? (cause as { code?: unknown } | undefined)?.code ?? '');
  if (TIMEOUT_CODES.has(code)) {
    return new McpConcurrencyError('timeout', `${label}: ${describeThrown(error)} (${code})`, {
      cause: error,
      retryable: code === 'UND_ERR_CONNECT_TIMEOUT' || IDEMPOTENT.has(method),
    });
  }
  const retryable = RESET_CODES.has(code) && IDEMPOTENT.has(method);
  return new McpConcurrencyError('http_error', `${label} failed: ${describeThrown(error)}${code ? ` (${code})` : ''}`, { cause: error, retryable });
}
