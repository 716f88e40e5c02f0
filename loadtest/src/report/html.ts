import type { Report } from '../model.js';
import { columns } from './format.js';
import { rateSvg, timelineSvg } from './svg.js';

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Every chart of the report as standalone SVG documents, by file name. */
export function charts(report: Report): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of report.scenarios) {
    if (s.charts?.timelines) out[`${s.scenario}-timeline.svg`] = timelineSvg(`${s.title}: every call, sequential vs concurrent`, s.charts.timelines);
    if (s.charts?.rate) out[`${s.scenario}-rate.svg`] = rateSvg('Requests reaching the server per second, per limiter', s.charts.rate.limitPerSecond, s.charts.rate.burst, s.charts.rate.series);
  }
  return out;
}

/** A self-contained page: a table per scenario, then the charts inline. */
export function html(report: Report, regressions: readonly string[] = []): string {
  const sections = report.scenarios.map((scenario) => {
    if (scenario.skipped) return `<h2>${esc(scenario.title)}</h2><p>Skipped: ${esc(scenario.skipped)}</p>`;
    const cols = columns(scenario);
    const head = `<tr>${cols.map((c) => `<th>${esc(c.header)}</th>`).join('')}</tr>`;
    const rows = scenario.contenders.map((c) => `<tr${c.ours ? ' class="ours"' : ''}>${cols.map((col) => `<td>${esc(col.cell(c))}</td>`).join('')}</tr>`);
    return `<h2>${esc(scenario.title)}</h2><table>${head}${rows.join('')}</table>`;
  });
  const regressionList = regressions.length === 0 ? '' : `<h2>Regressions</h2><ul>${regressions.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>mcp-concurrency load test</title>
<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}tr.ours td{font-weight:bold}</style>
</head><body>
<h1>mcp-concurrency load test</h1>
<p>Node ${esc(report.node)}, ${report.repeats} run(s) per figure (median, range in brackets)${report.quick ? ', quick sizes' : ''}. Services: ${esc(Object.entries(report.services).map(([k, v]) => `${k}: ${v}`).join(', '))}.</p>
${regressionList}
${sections.join('\n')}
<h2>Charts</h2>
${Object.values(charts(report)).join('\n<br>\n')}
</body></html>
`;
}
