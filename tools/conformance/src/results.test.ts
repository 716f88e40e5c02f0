import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compare, formatTable, readResults, type Expectations, type ScenarioResult } from './results.js';

const row = (scenario: string, status: 'pass' | 'fail', warnings = 0): ScenarioResult => ({ scenario, status, passed: status === 'pass' ? 1 : 0, failed: status === 'fail' ? 1 : 0, warnings, errors: [] });

describe('compare with the expectation file', () => {
  it.each([
    ['expected pass, passes', 'pass', 'pass', []],
    ['expected fail, fails', 'fail', 'fail', []],
    ['expected pass, fails', 'pass', 'fail', ['regressed']],
    ['expected fail, passes', 'fail', 'pass', ['improved']],
    ['not named, passes', undefined, 'pass', ['new']],
    ['not named, fails', undefined, 'fail', ['regressed']],
  ] as const)('%s', (_name, want, got, kinds) => {
    const expected: Expectations = { direct: want === undefined ? {} : { s: want } };
    expect(compare({ direct: [row('s', got)] }, expected).map((d) => d.kind)).toEqual(kinds);
  });
});

describe('readResults', () => {
  it('counts check statuses per scenario and fails a scenario that left no checks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conformance-results-'));
    try {
      const folder = join(dir, 'server-tools-call-simple-text-2026-11-29T11-05-55-829Z');
      await mkdir(folder);
      await writeFile(join(folder, 'checks.json'), JSON.stringify([{ status: 'SUCCESS' }, { status: 'WARNING' }, { status: 'INFO' }]));
      const broken = join(dir, 'server-ping-2026-11-29T11-05-56-000Z');
      await mkdir(broken);
      await writeFile(join(dir, 'server-json-schema-2020-12-2026-11-29T11-05-57-000Z.txt'), '');
      const results = await readResults(dir, ['tools-call-simple-text', 'ping', 'resources-list']);
      expect(results.map((r) => [r.scenario, r.status, r.passed, r.failed, r.warnings])).toEqual([
        ['tools-call-simple-text', 'pass', 1, 0, 1],
        ['ping', 'fail', 0, 1, 0],
        ['resources-list', 'fail', 0, 1, 0],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('formatTable', () => {
  it('prints one row per scenario, one column per mode, and totals', () => {
    const table = formatTable({ direct: [row('a', 'pass'), row('b', 'pass', 2)], 'proxy-http': [row('a', 'pass'), row('b', 'fail')] });
    expect(table.split('\n')).toEqual([
      '| scenario | direct | proxy-http |',
      '|---|---|---|',
      '| a | pass | pass |',
      '| b | pass (2 warn) | **FAIL** 1 |',
      '| **total** | 2/2 pass | 1/2 pass |',
    ]);
  });
});
