import { chartPage, linePath, stepPath, xScale, yScale, type ChartFrame } from './chart-page';
import type { LoadReport, RequestResult, StatusSample } from './report';

/**
 * A self-contained HTML page with an SVG chart: workers running and free and
 * the launch-queue backlog over time, and results as they completed.
 */
export function renderChart(title: string, samples: StatusSample[], results: RequestResult[], report: LoadReport): string {
  const frame: ChartFrame = {
    width: 900,
    height: 360,
    pad: { l: 50, r: 20, t: 30, b: 40 },
    tMax: Math.max(1, ...samples.map((s) => s.t), ...results.map((r) => r.doneAtMs)),
    tickLabel: (ms) => `${(ms / 1000).toFixed(1)} s`,
  };
  const yWorkers = Math.max(1, ...samples.map((s) => s.running + s.pending));
  const yQueue = Math.max(1, ...samples.map((s) => s.queued), results.length);
  const x = xScale(frame);
  const yW = yScale(frame, yWorkers);
  const yQ = yScale(frame, yQueue);
  const over = (get: (s: StatusSample) => number) => samples.map((s) => ({ t: s.t, v: get(s) }));
  const done = [...results].filter((r) => r.ok).sort((a, b) => a.doneAtMs - b.doneAtMs);
  const cumulative = linePath(done.map((r, i) => [x(r.doneAtMs), yQ(i + 1)]));
  const { pad, width } = frame;
  return chartPage({
    title,
    legend: [
      { colour: '#1f77b4', label: 'workers alive (running + pending)' },
      { colour: '#2ca02c', label: 'workers free' },
      { colour: '#ff7f0e', label: 'launch queue backlog' },
      { colour: '#9467bd', label: 'results completed' },
    ],
    frame,
    ariaLabel: 'workers and queue over time',
    svg: [
      `<text x="${pad.l - 6}" y="${pad.t + 4}" font-size="11" text-anchor="end">${yWorkers}</text>`,
      `<text x="${width - pad.r}" y="${pad.t - 8}" font-size="11" text-anchor="end">queue/results max ${yQueue}</text>`,
      `<path d="${stepPath(over((s) => s.queued), x, yQ)}" fill="none" stroke="#ff7f0e" stroke-width="2"/>`,
      `<path d="${cumulative}" fill="none" stroke="#9467bd" stroke-width="2"/>`,
      `<path d="${stepPath(over((s) => s.running + s.pending), x, yW)}" fill="none" stroke="#1f77b4" stroke-width="2.5"/>`,
      `<path d="${stepPath(over((s) => s.free), x, yW)}" fill="none" stroke="#2ca02c" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    ],
    sections: [{ data: report }],
  });
}
