import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

// The README's example, run as written against the built package (as users get it).
it('the README example runs and prints what its comments say', async () => {
  const readme = await readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const example = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const file = fileURLToPath(new URL(`../readme-example-${process.pid}.mts`, import.meta.url));
  await writeFile(file, example);
  try {
    // Plain output: console.log colours booleans when a runner sets FORCE_COLOR.
    const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', env });
    const expected = [...example.matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((m) => m[1]);
    expect(stdout.trim().split('\n')).toEqual(expected);
  } finally {
    await rm(file, { force: true });
  }
});
