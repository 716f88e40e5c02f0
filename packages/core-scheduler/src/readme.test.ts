import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((code) => code.includes("from '@mcp-concurrency/core-scheduler'"));
const dir = mkdtempSync(join(tmpdir(), 'core-scheduler-readme-'));
const entry = fileURLToPath(new URL('./index.ts', import.meta.url));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README examples run as written', () => {
  it('has examples', () => expect(examples.length).toBeGreaterThanOrEqual(2));

  it.each(examples.map((code, i) => [i, code] as const))('example %i', async (i, code) => {
    // The package's own source stands in for the published package.
    const file = join(dir, `example-${i}.ts`);
    writeFileSync(file, code.replaceAll("'@mcp-concurrency/core-scheduler'", JSON.stringify(entry)));
    const logged: unknown[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logged.push(args.length === 1 ? args[0] : args));
    try {
      await import(pathToFileURL(file).href);
    } finally {
      log.mockRestore();
    }
    if (i === 0) expect(logged).toEqual([['1 ok Paris: 21 °C', '2 ok Lagos: 21 °C', '3 rejected unknown_tool'], 42]);
    if (i === 1) expect(logged).toEqual([[1, 4, 9], 1, 'ran after resume']);
  });
});
