export function log(line: string): void {
  if (process.env['MCP_CONCURRENCY_QUIET'] !== '1') console.error(`[test-services] ${line}`);
}

/** A connection string with its password replaced, for logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
