/**
 * The page the load generator and the simulator write their charts into: one
 * self-contained HTML file (no script, no fetch), an SVG of lines over time,
 * then the run's figures as JSON.
 */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

export interface ChartFrame {
  width: number;
  height: number;
  pad: { l: number; r: number; t: number; b: number };
  /** The last time on the x axis (in the chart's own unit). */
  tMax: number;
  /** A time on the x axis as its tick reads (the unit's name included). */
  tickLabel: (t: number) => string;
}

/** Where a time goes across the frame. */
export function xScale(f: ChartFrame): (t: number) => number {
  return (t) => f.pad.l + ((f.width - f.pad.l - f.pad.r) * t) / f.tMax;
}

/** Where a value goes up the frame, for an axis that ends at `max`. */
export function yScale(f: ChartFrame, max: number): (v: number) => number {
  return (v) => f.height - f.pad.b - ((f.height - f.pad.t - f.pad.b) * v) / max;
}

/** An SVG path through the points, as drawn. */
export function linePath(points: [number, number][]): string {
  return points.map(([a, b], i) => `${i ? 'L' : 'M'}${a.toFixed(1)},${b.toFixed(1)}`).join(' ');
}

/** An SVG path that holds each value until the next sample (a count over time is a step, not a slope). */
export function stepPath(samples: { t: number; v: number }[], x: (t: number) => number, y: (v: number) => number): string {
  return linePath(samples.flatMap((s, i): [number, number][] => (i ? [[x(s.t), y(samples[i - 1].v)], [x(s.t), y(s.v)]] : [[x(s.t), y(s.v)]])));
}

export interface ChartPage {
  title: string;
  /** A sentence under the title, plain text. */
  intro?: string;
  /** The legend's entries: a colour and what it shows (plain text). */
  legend: { colour: string; label: string }[];
  frame: ChartFrame;
  /** The axes' ends and labels and the lines: SVG elements inside the frame. */
  svg: string[];
  ariaLabel: string;
  /** Shown under the chart as JSON, each under its heading when it has one. */
  sections: { heading?: string; data: unknown }[];
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:24px;color:#222}svg{background:#fafafa;border:1px solid #ddd}
.legend span{display:inline-block;margin-right:18px}.sw{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:6px}
pre{background:#f4f4f4;padding:12px}`;

export function chartPage(p: ChartPage): string {
  const { width: W, height: H, pad } = p.frame;
  const x = xScale(p.frame);
  const ticks = Array.from({ length: 6 }, (_, i) => (p.frame.tMax * i) / 5);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(p.title)}</title>
<style>${STYLE}</style></head><body>
<h1>${escapeHtml(p.title)}</h1>
${p.intro ? `<p>${escapeHtml(p.intro)}</p>\n` : ''}<div class="legend">${p.legend.map((l) => `<span><i class="sw" style="background:${l.colour}"></i>${escapeHtml(l.label)}</span>`).join('\n')}</div>
<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(p.ariaLabel)}">
<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#999"/>
<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#999"/>
${ticks.map((t) => `<text x="${x(t).toFixed(1)}" y="${H - pad.b + 16}" font-size="11" text-anchor="middle">${escapeHtml(p.frame.tickLabel(t))}</text>`).join('\n')}
${p.svg.join('\n')}
</svg>
${p.sections.map((s) => `${s.heading ? `<h2>${escapeHtml(s.heading)}</h2>\n` : ''}<pre>${escapeHtml(JSON.stringify(s.data, null, 2))}</pre>`).join('\n')}
</body></html>
`;
}
