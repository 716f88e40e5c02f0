import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';

/** A query with `:name` placeholders turned into `$1..$n`, and the names in `$n` order. */
export interface CompiledQuery {
  readonly text: string;
  readonly order: readonly string[];
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CONT = /[A-Za-z0-9_$\u0080-\uffff]/;
const PLACEHOLDER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * Finds the `:name` placeholders of a query with the rules of Postgres' own lexer (`scan.l`), so that
 * nothing inside these is ever taken for one: `--` line comments, nested block comments, `'...'`
 * strings (and their `E`, `B`, `X`, `N`, `U&` forms, `''` and, in `E'...'`, backslash escapes),
 * dollar-quoted text (`$$...$$`, `$tag$...$tag$`), quoted identifiers (`"..."`, `U&"..."`), `::`
 * casts and array slices (`a[1:n]`). Each placeholder becomes `$1..$n` in order of first use.
 *
 * Refused (`config_error`, with line and column) when the placeholders cannot be found with
 * certainty: an unterminated comment, string or quoted identifier; a positional `$1` (it would
 * clash with the numbering); a psql variable form (`:'x'`, `:"x"`); `[:name` (a slice bound or a
 * placeholder subscript: write `[(:name)]` or `[: name]`); a placeholder name that is not
 * `[A-Za-z_][A-Za-z0-9_]*`.
 * Assumes `standard_conforming_strings = on` (Postgres' default since 9.1).
 *
 * @example compileNamed('SELECT $$:a$$, :a::int') // { text: 'SELECT $$:a$$, $1::int', order: ['a'] }
 */
export function compileNamed(sql: string): CompiledQuery {
  const order: string[] = [];
  const brackets: string[] = []; // innermost '(' or '[' last
  let text = '';
  let i = 0;
  let operandBefore = false; // the previous token could end an expression (for `a[lo:hi]`)

  const fail = (at: number, what: string): never => {
    throw new McpConcurrencyError('config_error', `${what} at ${where(sql, at)}`);
  };
  const copyTo = (end: number): void => {
    text += sql.slice(i, end);
    i = end;
  };
  /** End of a `'...'` string opened at `start` (`backslash`: an E string). */
  const quoted = (start: number, quote: string, backslash: boolean, kind: string): number => {
    let j = start + 1;
    for (;;) {
      if (j >= sql.length) return fail(start, `The query has an unterminated ${kind}`);
      const ch = sql[j]!;
      if (backslash && ch === '\\') j += 2;
      else if (ch === quote && sql[j + 1] === quote) j += 2;
      else if (ch === quote) return j + 1;
      else j++;
    }
  };

  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      const end = sql.slice(i).search(/[\n\r]/);
      copyTo(end < 0 ? sql.length : i + end);
    } else if (ch === '/' && next === '*') {
      let depth = 0;
      let j = i;
      do {
        if (j >= sql.length) fail(i, 'The query has an unterminated /* comment');
        if (sql.startsWith('/*', j)) {
          depth++;
          j += 2;
        } else if (sql.startsWith('*/', j)) {
          depth--;
          j += 2;
        } else j++;
      } while (depth > 0);
      copyTo(j);
    } else if (ch === "'") {
      copyTo(quoted(i, "'", false, 'quoted string'));
      operandBefore = true;
    } else if (ch === '"') {
      copyTo(quoted(i, '"', false, 'quoted identifier'));
      operandBefore = true;
    } else if (ch === '$' && /[0-9]/.test(next ?? '')) {
      fail(i, `The query uses a positional parameter ${/^\$[0-9]+/.exec(sql.slice(i))![0]}; use :name placeholders`);
    } else if (ch === '$') {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 200))?.[0];
      if (tag === undefined) {
        copyTo(i + 1);
        operandBefore = false;
      } else {
        const end = sql.indexOf(tag, i + tag.length);
        if (end < 0) fail(i, `The query has an unterminated dollar-quoted string ${tag}`);
        copyTo(end + tag.length);
        operandBefore = true;
      }
    } else if (IDENT_START.test(ch)) {
      let j = i + 1;
      while (j < sql.length && IDENT_CONT.test(sql[j]!)) j++;
      const word = sql.slice(i, j);
      copyTo(j);
      if ((word === 'E' || word === 'e') && sql[j] === "'") copyTo(quoted(j, "'", true, 'quoted string'));
      operandBefore = true;
    } else if (/[0-9.]/.test(ch)) {
      let j = i + 1;
      while (j < sql.length && /[0-9A-Za-z_.]/.test(sql[j]!)) j++;
      copyTo(j);
      operandBefore = ch !== '.' || j > i + 1;
    } else if (ch === ':' && next === ':') {
      copyTo(i + 2);
      operandBefore = false;
    } else if (ch === ':' && (next === "'" || next === '"')) {
      fail(i, `The query uses a psql variable (:${next}...), which is not a placeholder; use :name`);
    } else if (ch === ':' && next !== undefined && IDENT_START.test(next)) {
      let j = i + 2;
      while (j < sql.length && IDENT_CONT.test(sql[j]!)) j++;
      const name = sql.slice(i + 1, j);
      if (brackets.at(-1) === '[') {
        if (!operandBefore) {
          fail(i, `The query has [:${name}, which is either an array slice bound or a placeholder: write [(:${name})] for a placeholder, [: ${name}] for a slice`);
        }
        // a[lo:hi]: a slice of the array, `hi` is the query's own expression.
        copyTo(i + 1);
        operandBefore = false;
        continue;
      }
      if (!PLACEHOLDER_NAME.test(name)) fail(i, `The query uses :${name}, which is not a placeholder name ([A-Za-z_][A-Za-z0-9_]*)`);
      let index = order.indexOf(name);
      if (index < 0) index = order.push(name) - 1;
      text += `$${index + 1}`;
      i = j;
      operandBefore = true;
    } else {
      if (ch === '(' || ch === '[') brackets.push(ch);
      else if (ch === ')' || ch === ']') brackets.pop();
      copyTo(i + 1);
      if (!/\s/.test(ch)) operandBefore = ch === ')' || ch === ']';
    }
  }
  return { text, order };
}

/** `line 2, column 8 (near "'unterminated :x")`: where in the query, with the text there. */
function where(sql: string, at: number): string {
  const before = sql.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  const excerpt = sql.slice(at, at + 30).split('\n')[0]!;
  return `line ${line}, column ${column} (near ${JSON.stringify(excerpt.length < sql.length - at ? `${excerpt}...` : excerpt)})`;
}
