import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import type { Dispatcher } from 'undici';

export type ResponseType = 'auto' | 'json' | 'text' | 'buffer';

export interface HttpResponse<B = unknown> {
  readonly url: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** JSON-decoded for JSON content types (with `responseType: 'auto'`), else text; a Buffer with `'buffer'`. */
  readonly body: B;
  readonly bytes: number;
}

/**
 * Reads a body up to `maxBytes`, then stops reading and destroys the stream (`response_too_large`).
 * The body is always consumed or destroyed, so the socket goes back to the pool or is closed.
 */
export async function readBody(
  body: Dispatcher.ResponseData['body'],
  headers: Record<string, string | string[] | undefined>,
  maxBytes: number,
  type: ResponseType,
  url: string,
): Promise<{ value: unknown; bytes: number }> {
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    body.destroy();
    throw tooLarge(url, maxBytes, `declares ${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += (chunk as Buffer).length;
      if (bytes > maxBytes) {
        body.destroy();
        throw tooLarge(url, maxBytes, 'sent more');
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    body.destroy();
    throw error;
  }
  const buffer = Buffer.concat(chunks, bytes);
  if (type === 'buffer') return { value: buffer, bytes };
  const text = buffer.toString('utf8');
  const contentType = String(headers['content-type'] ?? '').toLowerCase();
  const isJson = /^application\/([\w.+-]+\+)?json\b/.test(contentType);
  if (type === 'json' || (type === 'auto' && isJson)) {
    if (text.length === 0) return { value: null, bytes };
    try {
      return { value: JSON.parse(text) as unknown, bytes };
    } catch {
      throw new McpConcurrencyError('http_error', `${url} answered with invalid JSON (${contentType || 'no content type'})`);
    }
  }
  return { value: text, bytes };
}

function tooLarge(url: string, maxBytes: number, how: string): McpConcurrencyError {
  return new McpConcurrencyError('response_too_large', `${url}: the response ${how} than the ${maxBytes}-byte limit; reading stopped`);
}

/** `Retry-After` in ms, from seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(raw)) return Math.round(Number(raw) * 1000);
  const date = Date.parse(raw);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
