/**
 * Tool arguments and results as span attribute values: JSON, cut to `max` characters. They are
 * recorded only when the caller opts in (they may hold secrets and personal data).
 */
export function contentAttribute(value: unknown, max: number): string | undefined {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json === undefined) return undefined;
  return json.length > max ? `${json.slice(0, max)}…` : json;
}
