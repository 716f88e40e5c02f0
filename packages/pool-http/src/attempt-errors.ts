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
/** C0 and C1 controls, and the invisible formatting characters a terminal or a reader can be fooled by (bidi overrides, zero-width). */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]+/g;
/** Request headers whose values are not secrets (every other header value is redacted from a quoted error body). */
const PLAIN_HEADERS = new Set(['accept', 'accept-encoding', 'accept-language', 'content-type', 'content-length', 'user-agent', 'connection', 'host']);

/**
 * What the request carried that must not come back out in a message, should the server echo it in an error
 * body: the query string and each query value, the URL's user and password, and every header value but the
 * plain ones (an `Authorization: Bearer X` gives both `Bearer X` and `X`). Values shorter than 4 characters
 * are left (they would redact ordinary words).
 */
export function requestSecrets(url: URL, headers: Readonly<Record<string, string>>): string[] {
  const secrets = new Set<string>();
  const add = (value: string): void => {
    if (value.length >= 4) secrets.add(value);
  };
  add(url.search.slice(1));
  for (const [, value] of url.searchParams) add(value);
  for (const part of [url.username, url.password]) {
    add(part);
    try {
      add(decodeURIComponent(part));
    } catch {
      // A malformed escape: the raw form is redacted.
    }
  }
  for (const [name, value] of Object.entries(headers)) {
    if (PLAIN_HEADERS.has(name.toLowerCase())) continue;
    add(value);
    for (const part of value.split(/[\s,;=]+/)) add(part);
  }
  return [...secrets].sort((a, b) => b.length - a.length);
}

/**
 * The start of an error response's body as one line of text (at most 300 characters, control and invisible
 * formatting characters dropped, whitespace collapsed, each of `secrets` replaced by `[redacted]`), for a
 * textual or untyped body; '' for a binary one or when the body fails. Reads at most 64 KiB and destroys the
 * rest, so the connection is reused only when it was small.
 */
export async function errorExcerpt(body: Dispatcher.ResponseData['body'], headers: Dispatcher.ResponseData['headers'], secrets: readonly string[] = []): Promise<string> {
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
  let text = Buffer.concat(chunks).toString('utf8');
  for (const secret of secrets) text = text.split(secret).join('[redacted]');
  text = text.replace(INVISIBLE, ' ').replace(/\s+/g, ' ').trim();
  if (text.length <= ERROR_EXCERPT_CHARS) return text;
  let cut = text.slice(0, ERROR_EXCERPT_CHARS);
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1); // never half a surrogate pair
  return `${cut}…`;
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
