/**
 * Every README example runs as written (DESIGN: "Examples are tests"):
 * - each ts/js block is a program: it runs with `node --import tsx` in its README's folder and must exit 0
 *   by itself, against the real Postgres and Redis (DATABASE_URL, REDIS_URL) and the repository's example
 *   inventory API (INVENTORY_API, started here on a free port);
 * - each command of the root README's and examples/README's shell blocks runs as a new user would type it,
 *   in order, from the repository root; servers are exercised with the MCP SDK's client, then stopped with
 *   SIGTERM (as Ctrl-C would) and must exit 0. The one change: `--http`/`--metrics` ports become 0, so two
 *   runs on one machine never collide (the URLs are read from what the command prints);
 * - each yaml block passes `mcp-concurrency check`.
 * Commands this test cannot run from inside the suite (npm ci, npm test, installing from the registry) are
 * listed in NOT_RUN with the reason; any other command fails the test until it is handled here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, start, type Started } from './processes.js';
import { blocks, commands, readmes, ROOT, type Block, type Command } from './readme.js';
import vitestConfig from '../vitest.config.js';

const services = {
  DATABASE_URL: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
  REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
};

/** Commands a README shows that this suite does not run, and why. */
const NOT_RUN: [RegExp, string][] = [
  [/^npm ci\b/, 'the set-up itself: CI runs it on a fresh clone before this suite'],
  [/^npm test\b/, 'this suite is part of it'],
  [/^npm install\b/, 'installs the published packages from the registry; here they are the workspace'],
  [/^npm run loadtest\b/, 'the harness: its own tests run it (loadtest/src/cli.test.ts)'],
  [/^npm run bench\b/, 'benchmarks: long, and judged by their figures, not by an exit code'],
  [/^npm run conformance\b/, 'the conformance suite: CI runs it as its own step'],
  [/^npx changeset\b/, 'interactive: asks which packages changed'],
];

const all = readmes().flatMap(blocks);
const programs = all.filter((b) => ['ts', 'typescript', 'js', 'javascript'].includes(b.lang));
const yamls = all.filter((b) => b.lang === 'yaml' || b.lang === 'yml');
const shells = all.filter((b) => (b.lang === 'sh' || b.lang === 'bash' || b.lang === 'shell') && (b.readme === 'README.md' || b.readme.startsWith('examples')));

let inventory: Started;
let inventoryUrl: string;
beforeAll(async () => {
  inventory = start([process.execPath, join(ROOT, 'examples', 'inventory-api.mjs')], { cwd: ROOT, env: { PORT: '0' } });
  inventoryUrl = (await inventory.waitFor(/inventory API on (\S+)/))[1]!;
});
afterAll(async () => {
  await inventory?.stop();
});

const where = (b: Block): string => `${b.readme}:${b.line}`;

describe.each(programs.map((b) => [where(b), b] as const))('%s runs as written', (name, block) => {
  it('and exits 0 by itself', async () => {
    const dir = join(block.dir, '.tmp');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `readme-example-${block.line}.${block.lang.startsWith('j') ? 'mjs' : 'mts'}`);
    await writeFile(file, block.code);
    const { code, output } = await run([process.execPath, '--import', 'tsx', file], { cwd: block.dir, env: { ...services, INVENTORY_API: inventoryUrl }, ms: 90_000 });
    expect(code, `${name}:\n${output}`).toBe(0);
  });
});

describe.each(yamls.map((b) => [where(b), b] as const))('%s', (_name, block) => {
  it('passes mcp-concurrency check', async () => {
    const dir = join(block.dir, '.tmp');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `readme-config-${block.line}.yaml`);
    await writeFile(file, block.code);
    // The secrets a README config names come from the environment; a test value stands in for them.
    const { code, output } = await run(['npx', 'mcp-concurrency', 'check', '--config', file], { cwd: ROOT, env: { ...services, WEATHER_KEY: 'test-key' } });
    expect(code, output).toBe(0);
    expect(output).toContain('OK');
  });
});

const text = (result: unknown): string => (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

/** What each served configuration is asked, once it is up: a real call of each tool it has. */
async function exercise(config: string, client: Client): Promise<void> {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  if (config.endsWith('gantz.yaml')) {
    expect(names).toEqual(['parallel_fetch']);
    // The SSRF guard refuses this machine's own API unless the server is started to allow it.
    const result = await client.callTool({ name: 'parallel_fetch', arguments: { urls: [`${inventoryUrl}/items/A-100`] } });
    expect(result.isError, text(result)).toBeFalsy();
    expect(JSON.parse(text(result))).toEqual([expect.objectContaining({ url: `${inventoryUrl}/items/A-100`, code: 'forbidden_destination' })]);
  } else if (config.endsWith('tools.yaml')) {
    expect(names).toEqual(['get_stock', 'largest_tables', 'word_count', 'checksum']);
    const stock = await client.callTool({ name: 'get_stock', arguments: { sku: 'A-100' } });
    expect(stock.isError, text(stock)).toBeFalsy();
    expect(text(stock)).toContain('USB-C cable');
    const tables = await client.callTool({ name: 'largest_tables', arguments: { limit: 3 } });
    expect(tables.isError, text(tables)).toBeFalsy();
    const words = await client.callTool({ name: 'word_count', arguments: { text: 'two words' } });
    expect(JSON.parse(text(words))).toEqual({ lines: 1, words: 2, characters: 9 });
    const sum = await client.callTool({ name: 'checksum', arguments: { text: 'abc' } });
    expect(text(sum)).toContain('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // SHA-256 of "abc"

  } else if (config.endsWith('policy.yaml')) {
    expect(names).toEqual(['search_docs', 'get_document']);
    const hits = await client.callTool({ name: 'search_docs', arguments: { query: 'rate' } });
    expect(JSON.parse(text(hits))).toEqual([{ id: 'rates', title: 'Rate limits' }]);
  } else {
    throw new Error(`No calls are known for ${config}: add them to exercise() in this test`);
  }
}

/** `--http`/`--metrics HOST:PORT` with the port 0 (see the top of this file). */
function freePorts(argv: readonly string[]): string[] {
  return argv.map((word, i) => (argv[i - 1] === '--http' || argv[i - 1] === '--metrics' ? word.replace(/:\d+$/, ':0') : word));
}

/**
 * How long a command that starts the inventory API waits for 127.0.0.1:8787 to be free: well under the
 * test's timeout (120 s, vitest.config.ts), so a port that stays busy fails with portFree's own message
 * ("127.0.0.1:8787 stayed in use ..."), not a bare "Test timed out".
 */
const PORT_WAIT_MS = 60_000;

/** Resolves once nothing accepts connections on 127.0.0.1:`port`; rejects after `ms`. */
async function portFree(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const taken = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (!taken) return;
    if (Date.now() > until) throw new Error(`127.0.0.1:${port} stayed in use for ${ms} ms: the examples' inventory API needs it`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function runCommand(command: Command, background: Started[]): Promise<void> {
  const skipped = NOT_RUN.find(([pattern]) => pattern.test(command.argv.join(' ')));
  if (skipped) return;
  const env = { ...services, ...command.env };
  const [program, ...args] = command.argv;
  if (program === 'node' && args[0] === 'examples/inventory-api.mjs' && command.background) {
    // examples/tools.yaml names this port, so the command runs as written: wait (bounded) while another run
    // of these examples on this machine holds it.
    await portFree(8787, PORT_WAIT_MS);
    const api = start([process.execPath, ...args], { cwd: ROOT, env });
    background.push(api);
    await api.waitFor(/inventory API on/);
    return;
  }
  if (program === 'npx' && args[0] === 'mcp-concurrency') {
    const [sub] = args.slice(1);
    const config = args[args.indexOf('--config') + 1]!;
    if (sub === 'check') {
      const { code, output } = await run(command.argv, { cwd: ROOT, env });
      expect(code, `${command.text}\n${output}`).toBe(0);
      expect(output).toContain('OK');
      return;
    }
    if (sub === 'serve' || sub === 'proxy') {
      if (!args.includes('--http')) {
        // Over stdio: the client starts the command itself, exactly as written.
        const client = new Client({ name: 'readme-test', version: '1.0.0' });
        await client.connect(new StdioClientTransport({ command: program, args, cwd: ROOT, env: { ...(process.env as Record<string, string>), ...env }, stderr: 'pipe' }));
        await exercise(config, client);
        await client.close();
        return;
      }
      const server = start(freePorts(command.argv), { cwd: ROOT, env });
      try {
        const url = (await server.waitFor(/listening on (\S+)/))[1]!;
        if (args.includes('--metrics')) {
          const metrics = (await server.waitFor(/metrics on (\S+)/))[1]!;
          expect((await fetch(metrics)).status).toBe(200);
        }
        const client = new Client({ name: 'readme-test', version: '1.0.0' });
        await client.connect(new StreamableHTTPClientTransport(new URL(url)));
        await exercise(config, client);
        await client.close();
      } finally {
        // Ctrl-C: SIGINT to the foreground process group. The server answers what is in flight and exits 0;
        // npx then ends itself with the same signal, as npm does, so a shell sees the interrupt.
        const ended = await server.stop('SIGINT');
        expect(server.output()).toContain('mcp-concurrency: shutting down');
        expect(ended.code === 0 || ended.signal === 'SIGINT', `${JSON.stringify(ended)}\n${server.output()}`).toBe(true);
        expect(server.output()).not.toMatch(/Error|unhandled/i);
      }
      return;
    }
  }
  throw new Error(`This test does not know how to run the README command "${command.text}": handle it in runCommand() or list it in NOT_RUN`);
}

describe.each(shells.map((b) => [where(b), b] as const))('the commands of %s', (_name, block) => {
  it('run as written, in order', async () => {
    const background: Started[] = [];
    try {
      for (const command of commands(block.code)) await runCommand(command, background);
    } finally {
      for (const started of background) await started.stop();
    }
  });
});

describe('waiting for the inventory API port', () => {
  it('ends well before the test timeout, so a busy port fails with its own message', () => {
    expect(PORT_WAIT_MS).toBeLessThanOrEqual((vitestConfig.test?.testTimeout ?? 5_000) / 2);
  });

  it('says which port stayed in use and for how long', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      await expect(portFree(port, 100)).rejects.toThrow(`127.0.0.1:${port} stayed in use for 100 ms`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
