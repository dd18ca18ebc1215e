import type { LoadReport, RequestResult, StatusSample } from './report';

const W = 900;
const H = 360;
const PAD = { l: 50, r: 20, t: 30, b: 40 };

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/**
 * A self-contained HTML page with an SVG chart: workers running and free and
 * the launch-queue backlog over time, and results as they completed.
 */
export function renderChart(title: string, samples: StatusSample[], results: RequestResult[], report: LoadReport): string {
  const tMax = Math.max(1, ...samples.map((s) => s.t), ...results.map((r) => r.doneAtMs));
  const yWorkers = Math.max(1, ...samples.map((s) => s.running + s.pending));
  const yQueue = Math.max(1, ...samples.map((s) => s.queued), results.length);
  const x = (t: number) => PAD.l + ((W - PAD.l - PAD.r) * t) / tMax;
  const yW = (v: number) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / yWorkers;
  const yQ = (v: number) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / yQueue;
  const path = (pts: [number, number][]) => pts.map(([a, b], i) => `${i ? 'L' : 'M'}${a.toFixed(1)},${b.toFixed(1)}`).join(' ');
  const step = (get: (s: StatusSample) => number, y: (v: number) => number) =>
    path(samples.flatMap((s, i) => (i ? [[x(s.t), y(get(samples[i - 1]))], [x(s.t), y(get(s))]] : [[x(s.t), y(get(s))]]) as [number, number][]));
  const done = [...results].filter((r) => r.ok).sort((a, b) => a.doneAtMs - b.doneAtMs);
  const cumulative = path(done.map((r, i) => [x(r.doneAtMs), yQ(i + 1)]));
  const ticks = Array.from({ length: 6 }, (_, i) => (tMax * i) / 5);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}svg{background:#fafafa;border:1px solid #ddd}
.legend span{display:inline-block;margin-right:18px}.sw{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:6px}
pre{background:#f4f4f4;padding:12px}</style></head><body>
<h1>${esc(title)}</h1>
<div class="legend"><span><i class="sw" style="background:#1f77b4"></i>workers alive (running + pending)</span>
<span><i class="sw" style="background:#2ca02c"></i>workers free</span>
<span><i class="sw" style="background:#ff7f0e"></i>launch queue backlog</span>
<span><i class="sw" style="background:#9467bd"></i>results completed</span></div>
<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="workers and queue over time">
<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#999"/>
<line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" stroke="#999"/>
${ticks.map((t) => `<text x="${x(t).toFixed(1)}" y="${H - PAD.b + 16}" font-size="11" text-anchor="middle">${(t / 1000).toFixed(1)} s</text>`).join('\n')}
<text x="${PAD.l - 6}" y="${PAD.t + 4}" font-size="11" text-anchor="end">${yWorkers}</text>
<text x="${W - PAD.r}" y="${PAD.t - 8}" font-size="11" text-anchor="end">queue/results max ${yQueue}</text>
<path d="${step((s) => s.queued, yQ)}" fill="none" stroke="#ff7f0e" stroke-width="2"/>
<path d="${cumulative}" fill="none" stroke="#9467bd" stroke-width="2"/>
<path d="${step((s) => s.running + s.pending, yW)}" fill="none" stroke="#1f77b4" stroke-width="2.5"/>
<path d="${step((s) => s.free, yW)}" fill="none" stroke="#2ca02c" stroke-width="1.5" stroke-dasharray="4 3"/>
</svg>
<pre>${esc(JSON.stringify(report, null, 2))}</pre>
</body></html>
`;
}
