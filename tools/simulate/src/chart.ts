import { chartPage, stepPath, xScale, yScale, type ChartFrame } from '@tools/loadgen';
import type { SimulationResult } from './simulation';

const COLOURS: Record<string, string> = { 'work-per-worker': '#1f77b4', 'one-per-message': '#d62728' };

/**
 * A self-contained HTML page: for each policy, instances alive (left axis)
 * and launch-queue backlog (right axis) over virtual time, on shared axes so
 * that policies compare at a glance, then the figures.
 */
export function renderChart(title: string, runs: SimulationResult[], config: Record<string, unknown>): string {
  const samples = runs.flatMap((r) => r.samples);
  const frame: ChartFrame = {
    width: 900,
    height: 320,
    pad: { l: 50, r: 60, t: 30, b: 40 },
    tMax: Math.max(1, ...samples.map((s) => s.t)),
    tickLabel: (seconds) => `${seconds.toFixed(0)} s`,
  };
  const yInst = Math.max(1, ...samples.map((s) => s.instances));
  const yQueue = Math.max(1, ...samples.map((s) => s.backlog));
  const x = xScale(frame);
  const yI = yScale(frame, yInst);
  const yQ = yScale(frame, yQueue);
  const { width: W, height: H, pad } = frame;
  const lines = runs.map((r) => {
    const colour = COLOURS[r.policy] ?? '#333';
    return (
      `<path d="${stepPath(r.samples.map((s) => ({ t: s.t, v: s.instances })), x, yI)}" fill="none" stroke="${colour}" stroke-width="2.5"/>\n` +
      `<path d="${stepPath(r.samples.map((s) => ({ t: s.t, v: s.backlog })), x, yQ)}" fill="none" stroke="${colour}" stroke-width="1.5" stroke-dasharray="5 4"/>`
    );
  });
  return chartPage({
    title,
    intro: 'Simulated on a virtual clock with the launch controller\'s own policy and planner; the queue, EC2 and the workers are simulated.',
    legend: runs.map((r) => ({ colour: COLOURS[r.policy] ?? '#333', label: `${r.policy}: instances (solid), backlog (dashed)` })),
    frame,
    ariaLabel: 'instances and backlog over time',
    svg: [
      `<line x1="${W - pad.r}" y1="${pad.t}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#999"/>`,
      `<text x="${pad.l - 6}" y="${pad.t + 4}" font-size="11" text-anchor="end">${yInst}</text>`,
      `<text x="${pad.l}" y="${pad.t - 10}" font-size="11">instances</text>`,
      `<text x="${W - pad.r + 6}" y="${pad.t + 4}" font-size="11">${yQueue}</text>`,
      `<text x="${W - pad.r}" y="${pad.t - 10}" font-size="11" text-anchor="end">backlog</text>`,
      ...lines,
    ],
    sections: [
      { heading: 'Figures', data: Object.fromEntries(runs.map((r) => [r.policy, r.figures])) },
      { heading: 'Configuration', data: config },
    ],
  });
}
