/**
 * The placeholder lexer against the real Postgres scanner (libpg-query: Postgres 18's scan.l in
 * WebAssembly, the library alternative we weighed), side by side in one run: statements scanned per
 * second on a mix of real-looking tool queries, 11 alternating rounds, medians. Also the one-time
 * WebAssembly load that the library needs before its first scan.
 *
 *   npm run bench:placeholders -w packages/pool-postgres [-- --json]
 */
// The benchmark measures the built package, as users get it.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { compileNamed } from '@mcp-concurrency/pool-postgres';
import { loadModule, scanSync } from 'libpg-query';

const json = process.argv.includes('--json');
const ROUNDS = Number(process.env['BENCH_REPEATS'] ?? 11);
const log = (s: string): void => void (json || console.error(s));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const QUERIES = [
  'SELECT id, title FROM posts WHERE user_id = :user_id ORDER BY id LIMIT :limit',
  "-- the latest orders\nSELECT o.id, o.total::numeric(10,2), c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.created_at > now() - (:days || ' days')::interval AND c.region = ANY(:regions)",
  "SELECT $$price :amount$$ AS note, E'it\\'s :x' AS e, :amount::int AS v, arr[1:n] FROM t /* :zzz /* nested */ */",
  'INSERT INTO audit (actor, action, at) VALUES (:actor, :action, clock_timestamp()) RETURNING id',
];

const started = performance.now();
await loadModule();
const wasmLoadMs = performance.now() - started;

const measure = (scan: (sql: string) => unknown): number => {
  const n = 20_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) scan(QUERIES[i % QUERIES.length]!);
  return n / ((performance.now() - t) / 1000);
};
const ours: number[] = [];
const library: number[] = [];
measure(compileNamed);
measure(scanSync); // warm both
for (let r = 0; r < ROUNDS; r++) {
  if (r % 2 === 0) {
    ours.push(measure(compileNamed));
    library.push(measure(scanSync));
  } else {
    library.push(measure(scanSync));
    ours.push(measure(compileNamed));
  }
}
const result = { statementsPerSecond: { compileNamed: median(ours), libpgQueryScan: median(library) }, ratio: median(ours) / median(library), wasmLoadMs };
if (json) console.log(JSON.stringify(result));
else {
  log(`| scan of ${QUERIES.length} tool queries (median of ${ROUNDS}, alternating) | statements/s | vs libpg-query |`);
  log('| --- | --- | --- |');
  log(`| \`compileNamed\` (ours, with the $n rewrite) | ${Math.round(result.statementsPerSecond.compileNamed).toLocaleString('en')} | ${result.ratio.toFixed(2)}x |`);
  log(`| libpg-query \`scanSync\` (tokens only) | ${Math.round(result.statementsPerSecond.libpgQueryScan).toLocaleString('en')} | 1 |`);
  log(`libpg-query's WebAssembly load before its first scan: ${wasmLoadMs.toFixed(1)} ms`);
}
