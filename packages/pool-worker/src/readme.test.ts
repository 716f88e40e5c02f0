import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const WORKSPACE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

// The example is two files (a tool module and the program that loads it), so its fences name their file
// (```js hash.mjs): the workspace's README runner takes one block as one program and leaves these to this test.
test('the README example runs as written (against the built package)', async () => {
  const text = await readFile(README, 'utf8');
  const blocks = [...text.matchAll(/```js ([\w.-]+)\n([\s\S]*?)```/g)].map((m) => ({ file: m[1]!, code: m[2]! }));
  expect(blocks.map((b) => b.file)).toEqual(['hash.mjs', 'main.mjs']);
  const dir = await mkdtemp(join(tmpdir(), 'pool-worker-readme-'));
  try {
    await symlink(WORKSPACE_MODULES, join(dir, 'node_modules'), 'dir');
    for (const block of blocks) await writeFile(join(dir, block.file), block.code);
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'main.mjs')], { cwd: dir, timeout: 30_000 });
    expect(stdout.trim()).toBe('ok ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
