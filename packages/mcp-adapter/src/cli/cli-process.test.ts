import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToCompletion } from '../testing/index.js';

// The command as npm links it: the committed launcher, which loads the built CLI.
const BIN = fileURLToPath(new URL('../../bin/mcp-concurrency.js', import.meta.url));
const cli = (args: string[]): ReturnType<typeof runToCompletion> => runToCompletion([BIN, ...args]);

let dir: string;
let config: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpc-cli-process-'));
  config = join(dir, 'tools.yaml');
  await writeFile(config, 'name: t\ntools:\n  - name: echo\n    script: { command: echo, args: ["hi"] }\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the mcp-concurrency command', () => {
  it('prints its version', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('has help per command', async () => {
    const serve = await cli(['serve', '--help']);
    expect(serve.code).toBe(0);
    expect(serve.stdout).toContain('Usage: mcp-concurrency serve --config FILE');
    expect(serve.stdout).not.toContain('--upstream');
    expect((await cli(['--help'])).stdout).toContain('Commands:');
  });

  it('exits 2 on every usage and config error, with a plain message', async () => {
    for (const args of [[], ['launch'], ['serve'], ['serve', '--config', config, '--bogus'], ['serve', '--config', config, '--http', '127.0.0.1:99999'], ['serve', '--config', config, '--http', '999.1.1.1:80'], ['check', '--config', join(dir, 'missing.yaml')]]) {
      const { code, stderr } = await cli(args);
      expect(code, `${args.join(' ')}: ${stderr}`).toBe(2);
      expect(stderr).toMatch(/^mcp-concurrency: /);
      expect(stderr, 'no Node internals').not.toMatch(/ERR_|RangeError|TypeError|\n\s+at /);
    }
  });

  it('refuses an empty bearer token and a bad grace period at start, exit 2', async () => {
    const empty = await runToCompletion([BIN, 'serve', '--config', config, '--http', '127.0.0.1:0'], { MCP_CONCURRENCY_TOKEN: ' ' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('The bearer token (--token or MCP_CONCURRENCY_TOKEN) is empty');
    const grace = await runToCompletion([BIN, 'serve', '--config', config, '--http', '127.0.0.1:0'], { MCP_CONCURRENCY_GRACE_MS: 'abc' });
    expect(grace.code).toBe(2);
    expect(grace.stderr).toContain('MCP_CONCURRENCY_GRACE_MS must be a number of ms >= 0, got "abc"');
  });

  it('reports a YAML syntax error at its real line and column', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'name: x\ntools:\n  - name: a\n    script: { command: echo, args: ["hi" }\n');
    const { code, stderr } = await cli(['check', '--config', bad]);
    expect(code).toBe(2);
    expect(stderr).toContain(`${bad}:4:42: invalid YAML`);
  });

  it('fails the start, exit 1, when a listener cannot start, and never says "listening" first', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const { code, stderr } = await cli(['serve', '--config', config, '--http', '127.0.0.1:0', '--metrics', `127.0.0.1:${port}`]);
      expect(code).toBe(1);
      expect(stderr).toContain(`Cannot serve /metrics on 127.0.0.1:${port}: the address is already in use`);
      expect(stderr).not.toContain('listening');
    } finally {
      taken.close();
    }
  });
});
