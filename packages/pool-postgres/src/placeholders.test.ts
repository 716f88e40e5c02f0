import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { loadModule, scanSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileNamed } from './placeholders.js';

/** Statements whose quoting once fooled the scan, and what each must compile to. */
const TRICKY: [string, string, string, string[]][] = [
  ['a line comment', '-- note :shrug:\nSELECT :a', '-- note :shrug:\nSELECT $1', ['a']],
  ['a line comment ended by \\r', '-- :x\rSELECT :a', '-- :x\rSELECT $1', ['a']],
  ['a nested block comment', 'SELECT /* :zzz /* :in */ :still */ :a', 'SELECT /* :zzz /* :in */ :still */ $1', ['a']],
  ['dollar quotes', 'SELECT $$price :amount$$ AS note, :amount::int AS v', 'SELECT $$price :amount$$ AS note, $1::int AS v', ['amount']],
  ['tagged dollar quotes holding $$', "SELECT $fn$ :x $$ ' $fn$, :y", "SELECT $fn$ :x $$ ' $fn$, $1", ['y']],
  ['an E string with \\\'', "SELECT E'it\\'s :x', :y", "SELECT E'it\\'s :x', $1", ['y']],
  ['a standard string whose backslash ends nothing', "SELECT 'C:\\', :y", "SELECT 'C:\\', $1", ['y']],
  ["'' inside a string", "SELECT 'it''s :x', :y", "SELECT 'it''s :x', $1", ['y']],
  ['B, X, N and U& strings', "SELECT B'1', X'ff', N':x', U&'d\\0061t:a', :y", "SELECT B'1', X'ff', N':x', U&'d\\0061t:a', $1", ['y']],
  ['quoted identifiers with ""', 'SELECT "a"":b", U&"c:d", :y', 'SELECT "a"":b", U&"c:d", $1', ['y']],
  ['casts, chained and on placeholders', 'SELECT x::text, :a::int[], (:b)::numeric(10,2)', 'SELECT x::text, $1::int[], ($2)::numeric(10,2)', ['a', 'b']],
  ['array slices', 'SELECT arr[1:n], arr[lo:hi], arr[: n], arr[(:i)], arr[1:(:j)]', 'SELECT arr[1:n], arr[lo:hi], arr[: n], arr[($1)], arr[1:($2)]', ['i', 'j']],
  ['a $ inside an identifier is not a quote', 'SELECT a$b$ + :x, :x', 'SELECT a$b$ + $1, $1', ['x']],
  ['placeholders next to operators', 'SELECT 1-:a, x=:b, :a||:b', 'SELECT 1-$1, x=$2, $1||$2', ['a', 'b']],
  ['a keyword as a placeholder name', 'SELECT * FROM t LIMIT :limit', 'SELECT * FROM t LIMIT $1', ['limit']],
];

/** Statements whose placeholders cannot be found with certainty, and the message that shows where. */
const REFUSED: [string, string, string][] = [
  ['an unterminated string', "SELECT 'unterminated :x", `unterminated quoted string at line 1, column 8 (near "'unterminated :x")`],
  ['an unterminated E string', "SELECT :a,\n  E'x\\'", 'unterminated quoted string at line 2, column 4'],
  ['an unterminated block comment', 'SELECT /* /* */ :x', 'unterminated /* comment at line 1, column 8'],
  ['an unterminated dollar quote', 'SELECT $q$ :x $$', 'unterminated dollar-quoted string $q$ at line 1, column 8'],
  ['an unterminated quoted identifier', 'SELECT "a:b', 'unterminated quoted identifier at line 1, column 8'],
  ['a positional parameter', 'SELECT :a, $1', 'positional parameter $1; use :name placeholders at line 1, column 12'],
  ['a psql variable', "SELECT :'x'", 'psql variable'],
  ['a subscript that may be a slice', 'SELECT arr[:i]', 'write [(:i)] for a placeholder, [: i] for a slice at line 1, column 12'],
  ['a name with a $', 'SELECT :a$b', 'not a placeholder name'],
];

describe('compileNamed: placeholders by the rules of Postgres\' lexer', () => {
  it.each(TRICKY)('%s', (_name, sql, text, order) => {
    expect(compileNamed(sql)).toEqual({ text, order });
  });

  it.each(REFUSED)('refuses %s, showing where', (_name, sql, message) => {
    let error: unknown;
    try {
      compileNamed(sql);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(McpConcurrencyError);
    expect((error as McpConcurrencyError).code).toBe('config_error');
    expect((error as Error).message).toContain(message);
  });
});

/**
 * The real Postgres scanner (libpg-query, Postgres 18's scan.l compiled to WASM) as the judge: a
 * placeholder is a `:` token directly followed by a word token. Our lexer must find exactly those
 * in statements built at random from quoting fragments.
 */
describe('compileNamed agrees with the Postgres scanner', () => {
  beforeAll(async () => {
    await loadModule();
  });

  const FRAGMENTS = [
    ':a', ':b2', ':_c', 'x::int', ':a::text', "'s :q'", "'it''s :q'", "E'\\' :q'", "E'\\\\'", '"id :q"', '"a""b:q"',
    '$$ :q $$', '$t$ :q $$ $t$', '-- :q\n', '/* :q /* :r */ :s */', 'U&"u:q"', "B'01'", 'f(:a)', 'x||:b2',
    '1', '2.5', 'col', 'a$b', ',', '+', '(', ')', ' ', '\n',
  ];

  /** Placeholder offsets by the Postgres scanner's tokens (offsets are bytes: these statements are ASCII). */
  function oracle(sql: string): number[] {
    const tokens = scanSync(sql).tokens;
    const found: number[] = [];
    tokens.forEach((token, k) => {
      const word = tokens[k + 1];
      if (sql.slice(token.start, token.end) !== ':' || word === undefined || word.start !== token.end) return;
      if (/^[A-Za-z_]/.test(sql.slice(word.start, word.end))) found.push(token.start);
    });
    return found;
  }

  /** Placeholder offsets by ours: where `$n` landed, mapped back to the source. */
  function ours(sql: string): number[] {
    const { text, order } = compileNamed(sql);
    const found: number[] = [];
    let shift = 0;
    for (const match of text.matchAll(/\$([0-9]+)(?![0-9])/g)) {
      const name = order[Number(match[1]) - 1]!;
      const at = match.index + shift;
      if (sql.slice(at, at + 1 + name.length) !== `:${name}`) continue; // `$1` inside quoted text copied as is
      found.push(at);
      shift += name.length + 1 - match[0].length;
    }
    return found;
  }

  it('on 2,000 random statements', () => {
    let seed = 16;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 2_000; round++) {
      const parts = Array.from({ length: 1 + random(10) }, () => FRAGMENTS[random(FRAGMENTS.length)]!);
      const sql = `SELECT ${parts.join(' ')}`;
      expect({ sql, at: ours(sql) }).toEqual({ sql, at: oracle(sql) });
    }
  });
});
