import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisService, startPostgres, type PostgresService } from '@mcp-concurrency/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';
import { runToCompletion } from '../testing/index.js';
import { formatProbes, probeConfig } from './probe.js';

/** A local port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const redis = redisService();
let postgres: PostgresService;
beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);
afterAll(async () => {
  await postgres?.stop();
});

const TOOLS = `tools:
  - name: now
    sql: { query: "SELECT now() AS at, :n::int AS n" }
    parameters: [{ name: n, type: integer }]
  - name: missing_table
    sql: { query: "SELECT * FROM no_such_table_mcpc WHERE id = :id" }
    parameters: [{ name: id, type: integer }]
  - name: node
    script: { command: ${JSON.stringify(process.execPath)} }
  - name: nowhere
    script: { command: no-such-command-mcpc }
  - name: weather
    http: { url: "https://api.example.com/weather" }
`;

describe('check --connect probes what it can without running a tool', () => {
  it('reports each service and tool: ok, failed or not probed', async () => {
    const redisLine = redis.url === undefined ? '' : `  redis_url: ${JSON.stringify(redis.url)}\n`;
    const config = parseConfig(`name: x\nconcurrency:\n${redisLine}  max_parallel: 2\ndatabase: { url: ${JSON.stringify(postgres.url)} }\n${TOOLS}`, 'x.yaml', {});
    const probes = await probeConfig(config, { timeoutMs: 5_000 });
    const byWhat = Object.fromEntries(probes.map((p) => [p.what, p]));
    expect(byWhat['database']).toMatchObject({ status: 'ok' });
    expect(byWhat['sql tool now']).toMatchObject({ status: 'ok', detail: 'the query prepares (parsed and planned, not run)' });
    expect(byWhat['sql tool missing_table']!.status).toBe('failed');
    expect(byWhat['sql tool missing_table']!.detail).toContain('42P01'); // undefined_table
    expect(byWhat['script tool node']).toMatchObject({ status: 'ok', detail: `${process.execPath} found at ${process.execPath}` });
    expect(byWhat['script tool nowhere']).toMatchObject({ status: 'failed', detail: 'no-such-command-mcpc is not on PATH' });
    expect(byWhat['http tool weather']).toMatchObject({ status: 'not probed' });
    if (redis.url !== undefined) expect(byWhat['Redis (concurrency.redis_url)']).toMatchObject({ status: 'ok' });
    const { text, code } = formatProbes(probes);
    expect(code).toBe(1);
    expect(text).toMatch(/^ {2}FAILED {6}script tool nowhere: /m);
    expect(text).toMatch(/probes: \d+ ok, 2 failed, 2 not probed\n$/);
  }, 30_000);

  it('an unreachable database and Redis fail by name, without printing their URLs', async () => {
    const [pgPort, redisPort] = [await closedPort(), await closedPort()];
    const config = parseConfig(
      `name: x\nconcurrency:\n  redis_url: "redis://:hunter2@127.0.0.1:${redisPort}"\ndatabase: { url: "postgres://app:hunter2@127.0.0.1:${pgPort}/app" }\ntools:\n  - name: q\n    sql: { query: "SELECT 1" }\n`,
      'x.yaml',
      {},
    );
    const probes = await probeConfig(config, { timeoutMs: 2_000 });
    expect(probes.map((p) => [p.what, p.status])).toEqual([
      ['database', 'failed'],
      ['sql tool q', 'not probed'],
      ['Redis (concurrency.redis_url)', 'failed'],
    ]);
    expect(probes[0]!.detail).toContain('ECONNREFUSED');
    expect(formatProbes(probes).text).not.toContain('hunter2');
  }, 30_000);
});

describe('mcp-concurrency check --connect', () => {
  const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
  it('prints the probes after OK; exit 0 when none failed, 1 when one did, and the config error still exits 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-probe-'));
    try {
      const good = join(dir, 'good.yaml');
      await writeFile(good, `name: x\ntools:\n  - name: node\n    script: { command: ${JSON.stringify(process.execPath)} }\n`);
      const ok = await runToCompletion([cli, 'check', '--config', good, '--connect']);
      expect(ok.stdout).toMatch(/\nOK\n {2}ok {10}script tool node: /);
      expect(ok.stdout).toContain('probes: 1 ok, 0 failed, 1 not probed');
      expect(ok.code).toBe(0);
      const bad = join(dir, 'bad.yaml');
      await writeFile(bad, 'name: x\ntools:\n  - name: nowhere\n    script: { command: no-such-command-mcpc }\n');
      const failed = await runToCompletion([cli, 'check', '--config', bad, '--connect']);
      expect(failed.stdout).toContain('FAILED      script tool nowhere: no-such-command-mcpc is not on PATH');
      expect(failed.code).toBe(1);
      const plain = await runToCompletion([cli, 'check', '--config', bad]);
      expect(plain.code).toBe(0); // without --connect nothing is probed
      const invalid = join(dir, 'invalid.yaml');
      await writeFile(invalid, 'name: x\ntools:\n  - *nope\n');
      const refused = await runToCompletion([cli, 'check', '--config', invalid, '--connect']);
      expect(refused.stderr).toContain('invalid.yaml:3:5: tools[0]: undefined alias *nope');
      expect(refused.code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('check --connect loads worker-tool modules', () => {
  const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
  it('a module that loads with a function export is ok; a missing, broken or exportless one fails at its config line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-probe-workers-'));
    try {
      await writeFile(join(dir, 'good.mjs'), 'export function hash(args) { return args; }\n');
      await writeFile(join(dir, 'broken.mjs'), 'export function hash( {\n');
      await writeFile(join(dir, 'throws.mjs'), 'throw new Error("no config here");\nexport default () => 1;\n');
      const file = join(dir, 'workers.yaml');
      await writeFile(
        file,
        [
          'name: x',
          'tools:',
          '  - name: good',
          '    worker: { module: ./good.mjs, export: hash }',
          '  - name: missing',
          '    worker: { module: ./nope.mjs }',
          '  - name: broken',
          '    worker: { module: ./broken.mjs, export: hash }',
          '  - name: throws',
          '    worker: { module: ./throws.mjs }',
          '  - name: wrong_export',
          '    worker: { module: ./good.mjs, export: sha256 }',
          '',
        ].join('\n'),
      );
      const probes = await probeConfig(parseConfig(await readFile(file, 'utf8'), file, {}), { timeoutMs: 20_000 });
      const byWhat = Object.fromEntries(probes.map((p) => [p.what, p]));
      expect(byWhat['worker tool good']).toMatchObject({ status: 'ok' });
      expect(byWhat['worker tool missing']).toMatchObject({ status: 'failed', detail: expect.stringMatching(new RegExp(`^${file.replace(/[.]/g, '\\.')}:6:23: .*nope\\.mjs`)) });
      expect(byWhat['worker tool broken']).toMatchObject({ status: 'failed', detail: expect.stringContaining(`${file}:8:23: `) });
      expect(byWhat['worker tool throws']).toMatchObject({ status: 'failed', detail: expect.stringContaining('no config here') });
      expect(byWhat['worker tool throws']!.detail).toContain(`${file}:10:23: `);
      expect(byWhat['worker tool wrong_export']).toMatchObject({ status: 'failed', detail: expect.stringContaining('"sha256" is not a function exported by the module (its function exports: hash)') });
      // The command: FAILED lines, exit 1.
      const run = await runToCompletion([cli, 'check', '--config', file, '--connect']);
      expect(run.stdout).toMatch(/^ {2}ok +worker tool good: /m);
      expect(run.stdout).toContain(`FAILED  worker tool missing: ${file}:6:23: `);
      expect(run.stdout).toContain('probes: 1 ok, 4 failed, 0 not probed');
      expect(run.code).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
