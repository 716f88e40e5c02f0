import type { ContenderResult, Report, ScenarioResult } from '../model.js';
import type { Spread } from '../stats.js';

const n = (s: Spread | undefined, digits = 0): string => (s === undefined || Number.isNaN(s.median) ? '' : s.median.toFixed(digits));
const range = (s: Spread | undefined, digits = 0): string =>
  s === undefined || Number.isNaN(s.median) ? '' : s.min === s.max ? s.median.toFixed(digits) : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;

/** The columns a scenario has figures for, with their cells. */
export function columns(scenario: ScenarioResult): { header: string; cell: (c: ContenderResult) => string }[] {
  const has = (k: keyof ContenderResult): boolean => scenario.contenders.some((c) => c[k] !== undefined);
  const cols: { header: string; cell: (c: ContenderResult) => string }[] = [{ header: 'contender', cell: (c) => c.contender }];
  if (has('wallMs')) cols.push({ header: 'wall ms', cell: (c) => range(c.wallMs) });
  if (has('idealMs')) cols.push({ header: 'ideal ms', cell: (c) => (c.idealMs === undefined ? '' : c.idealMs.toFixed(0)) });
  if (has('speedup')) cols.push({ header: 'speedup', cell: (c) => (c.speedup ? `${n(c.speedup, 2)}x` : '') });
  if (has('vsAnchor')) cols.push({ header: 'vs anchor (gated)', cell: (c) => (c.vsAnchor ? `${n(c.vsAnchor, 2)}x ${c.anchor}` : '') });
  if (has('efficiency')) cols.push({ header: 'efficiency', cell: (c) => (c.efficiency ? `${(c.efficiency.median * 100).toFixed(0)}%` : '') });
  if (has('windowsOverBudget')) cols.push({ header: 'windows over budget', cell: (c) => range(c.windowsOverBudget) });
  if (has('maxIn1s')) cols.push({ header: 'max in any 1 s', cell: (c) => (c.maxIn1s ? `${n(c.maxIn1s)} / ${c.boundIn1s}` : '') });
  if (has('windowSlack')) cols.push({ header: 'slack (tokens)', cell: (c) => n(c.windowSlack, 1) });
  if (has('http429')) cols.push({ header: '429s', cell: (c) => range(c.http429) });
  if (has('achievedRate')) cols.push({ header: 'achieved /s', cell: (c) => n(c.achievedRate, 1) });
  if (has('loopDelayP99Ms')) cols.push({ header: 'loop delay p99 ms', cell: (c) => range(c.loopDelayP99Ms) });
  cols.push({ header: 'errors', cell: (c) => String(c.errors) });
  if (has('note')) cols.push({ header: 'note', cell: (c) => c.note ?? '' });
  return cols;
}

export function terminalTable(report: Report): string {
  const out: string[] = [];
  for (const scenario of report.scenarios) {
    out.push('', scenario.title);
    if (scenario.skipped) {
      out.push(`  skipped: ${scenario.skipped}`);
      continue;
    }
    const cols = columns(scenario);
    const rows = [cols.map((c) => c.header), ...scenario.contenders.map((c) => cols.map((col) => col.cell(c)))];
    const widths = cols.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    rows.forEach((row, r) => {
      out.push(`  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`);
      if (r === 0) out.push(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
    });
  }
  return out.join('\n');
}

export function markdown(report: Report, regressions: readonly string[] = []): string {
  const out = [`# mcp-concurrency load test`, '', `Node ${report.node}, ${report.repeats} run(s) per figure (median, with the range when runs differ)${report.quick ? ', quick sizes' : ''}. Services: ${Object.entries(report.services).map(([k, v]) => `${k}: ${v}`).join(', ')}.`];
  if (regressions.length > 0) out.push('', '**Regressions:**', '', ...regressions.map((r) => `- ${r}`));
  for (const scenario of report.scenarios) {
    out.push('', `## ${scenario.title}`, '');
    if (scenario.skipped) {
      out.push(`Skipped: ${scenario.skipped}`);
      continue;
    }
    const cols = columns(scenario);
    out.push(`| ${cols.map((c) => c.header).join(' | ')} |`, `| ${cols.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
    for (const c of scenario.contenders) out.push(`| ${cols.map((col) => (c.ours && col.header === 'contender' ? `**${col.cell(c)}**` : col.cell(c))).join(' | ')} |`);
  }
  return `${out.join('\n')}\n`;
}
