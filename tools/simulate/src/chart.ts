import type { SimulationResult } from './simulation';

const W = 900;
const H = 320;
const PAD = { l: 50, r: 60, t: 30, b: 40 };
const COLOURS: Record<string, string> = { 'work-per-worker': '#1f77b4', 'one-per-message': '#d62728' };

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/**
 * A self-contained HTML page: for each policy, instances alive (left axis)
 * and launch-queue backlog (right axis) over virtual time, on shared axes so
 * that policies compare at a glance, then the figures.
 */
export function renderChart(title: string, runs: SimulationResult[], config: Record<string, unknown>): string {
  const samples = runs.flatMap((r) => r.samples);
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const yInst = Math.max(1, ...samples.map((s) => s.instances));
  const yQueue = Math.max(1, ...samples.map((s) => s.backlog));
  const x = (t: number) => PAD.l + ((W - PAD.l - PAD.r) * t) / tMax;
  const yI = (v: number) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / yInst;
  const yQ = (v: number) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / yQueue;
  const step = (pts: { t: number; v: number }[], y: (v: number) => number) =>
    pts
      .map((p, i) => (i ? `L${x(p.t).toFixed(1)},${y(pts[i - 1].v).toFixed(1)} L${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}` : `M${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`))
      .join(' ');
  const ticks = Array.from({ length: 6 }, (_, i) => (tMax * i) / 5);
  const lines = runs.map((r) => {
    const colour = COLOURS[r.policy] ?? '#333';
    return (
      `<path d="${step(r.samples.map((s) => ({ t: s.t, v: s.instances })), yI)}" fill="none" stroke="${colour}" stroke-width="2.5"/>\n` +
      `<path d="${step(r.samples.map((s) => ({ t: s.t, v: s.backlog })), yQ)}" fill="none" stroke="${colour}" stroke-width="1.5" stroke-dasharray="5 4"/>`
    );
  });
  const legend = runs
    .map((r) => {
      const colour = COLOURS[r.policy] ?? '#333';
      return `<span><i class="sw" style="background:${colour}"></i>${esc(r.policy)}: instances (solid), backlog (dashed)</span>`;
    })
    .join('\n');
  const figures = Object.fromEntries(runs.map((r) => [r.policy, r.figures]));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}svg{background:#fafafa;border:1px solid #ddd}
.legend span{display:inline-block;margin-right:18px}.sw{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:6px}
pre{background:#f4f4f4;padding:12px}</style></head><body>
<h1>${esc(title)}</h1>
<p>Simulated on a virtual clock with the launch controller's own policy and planner; the queue, EC2 and the workers are simulated.</p>
<div class="legend">${legend}</div>
<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="instances and backlog over time">
<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#999"/>
<line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" stroke="#999"/>
<line x1="${W - PAD.r}" y1="${PAD.t}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#999"/>
${ticks.map((t) => `<text x="${x(t).toFixed(1)}" y="${H - PAD.b + 16}" font-size="11" text-anchor="middle">${t.toFixed(0)} s</text>`).join('\n')}
<text x="${PAD.l - 6}" y="${PAD.t + 4}" font-size="11" text-anchor="end">${yInst}</text>
<text x="${PAD.l}" y="${PAD.t - 10}" font-size="11">instances</text>
<text x="${W - PAD.r + 6}" y="${PAD.t + 4}" font-size="11">${yQueue}</text>
<text x="${W - PAD.r}" y="${PAD.t - 10}" font-size="11" text-anchor="end">backlog</text>
${lines.join('\n')}
</svg>
<h2>Figures</h2>
<pre>${esc(JSON.stringify(figures, null, 2))}</pre>
<h2>Configuration</h2>
<pre>${esc(JSON.stringify(config, null, 2))}</pre>
</body></html>
`;
}
