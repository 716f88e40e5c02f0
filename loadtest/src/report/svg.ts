import type { Span } from '../contenders.js';

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * The seed's two diagrams, drawn from measured spans: one bar per call, sequential above, concurrent
 * below, on the same time axis.
 */
export function timelineSvg(title: string, timelines: Record<string, Span[]>): string {
  const names = Object.keys(timelines);
  const maxT = Math.max(1, ...names.flatMap((k) => timelines[k]!.map((s) => s.end)));
  const width = 760;
  const left = 150;
  const bar = 8;
  const plot = width - left - 20;
  let y = 40;
  const parts: string[] = [];
  for (const name of names) {
    const spans = [...timelines[name]!].sort((a, b) => a.start - b.start);
    const top = y;
    spans.forEach((s, i) => {
      const x = left + (s.start / maxT) * plot;
      const w = Math.max(1, ((s.end - s.start) / maxT) * plot);
      parts.push(`<rect x="${x.toFixed(1)}" y="${(top + i * (bar + 2)).toFixed(1)}" width="${w.toFixed(1)}" height="${bar}" fill="${name === 'sequential' ? '#c0504d' : '#4f81bd'}"/>`);
    });
    const h = Math.max(bar, spans.length * (bar + 2));
    const total = Math.max(0, ...spans.map((s) => s.end));
    parts.push(`<text x="10" y="${top + h / 2 + 4}" font-size="12">${esc(name)}</text>`);
    parts.push(`<text x="10" y="${top + h / 2 + 18}" font-size="11" fill="#555">${total.toFixed(0)} ms</text>`);
    y += h + 24;
  }
  const ticks: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const t = (maxT * i) / 5;
    const x = left + (t / maxT) * plot;
    ticks.push(`<line x1="${x}" y1="30" x2="${x}" y2="${y - 14}" stroke="#ddd"/><text x="${x}" y="${y}" font-size="10" text-anchor="middle">${t.toFixed(0)} ms</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif"><text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>${ticks.join('')}${parts.join('')}</svg>`;
}

/** Granted rate over time (arrivals per 100 ms, scaled to /s) per limiter, against the limit. */
export function rateSvg(title: string, limitPerSecond: number, burst: number, series: Record<string, number[]>): string {
  const names = Object.keys(series);
  const width = 760;
  const left = 60;
  const top = 30;
  const plotW = width - left - 20;
  const plotH = 220;
  const legendTop = top + plotH + 40;
  const height = legendTop + names.length * 18 + 10;
  const maxY = Math.max(limitPerSecond * 2, ...Object.values(series).flat());
  const len = Math.max(2, ...Object.values(series).map((s) => s.length));
  const colors = ['#1f5fa8', '#3a9a3a', '#c0504d', '#e08a1e', '#8064a2'];
  const dashes = ['', '6,3', '2,2', '8,3,2,3', '4,4'];
  const yOf = (v: number): number => top + plotH - (v / maxY) * plotH;
  const lines = names.map((name, i) => {
    const points = series[name]!.map((v, j) => `${(left + (j / (len - 1)) * plotW).toFixed(1)},${yOf(v).toFixed(1)}`).join(' ');
    const style = `stroke="${colors[i % colors.length]}" stroke-width="2" ${dashes[i % dashes.length] ? `stroke-dasharray="${dashes[i % dashes.length]}"` : ''}`;
    const y = legendTop + i * 18;
    return `<polyline fill="none" ${style} points="${points}"/><line x1="${left}" y1="${y - 4}" x2="${left + 30}" y2="${y - 4}" ${style}/><text x="${left + 38}" y="${y}" font-size="12">${esc(name)}</text>`;
  });
  const limitY = yOf(limitPerSecond);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>
<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#999"/>
<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#999"/>
<line x1="${left}" y1="${limitY}" x2="${left + plotW}" y2="${limitY}" stroke="#000" stroke-dasharray="5,4"/>
<text x="${left + plotW - 4}" y="${limitY - 5}" font-size="11" text-anchor="end">limit ${limitPerSecond}/s (burst ${burst})</text>
<text x="${left - 6}" y="${top + 8}" font-size="10" text-anchor="end">${maxY.toFixed(0)}/s</text>
<text x="${left - 6}" y="${top + plotH}" font-size="10" text-anchor="end">0</text>
<text x="${left + plotW / 2}" y="${top + plotH + 18}" font-size="11" text-anchor="middle">time: requests reaching the server in each 100 ms, as a rate per second</text>
${lines.join('\n')}
</svg>`;
}
