import { median, parseExpected, percentile, summarise, type RequestResult, type StatusSample } from './report';
import { renderChart } from './chart';

const r = (name: string, label: string, latencyMs: number, doneAtMs: number, ok = true): RequestResult => ({ name, ok, label, latencyMs, doneAtMs });

describe('load report', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile([], 50)]).toEqual([50, 95, 99, 0]);
  });

  it('ranks samples given in the order they were collected, without reordering them', () => {
    const samples = [3, 1, 2, 4];
    expect([percentile(samples, 50), percentile(samples, 100), percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)]).toEqual([2, 4, 10]);
    expect(samples).toEqual([3, 1, 2, 4]);
  });

  it('takes the median of a copy: the middle sample, the upper middle one of an even count, NaN of none', () => {
    const samples = [5, 1, 4, 2];
    expect([median([3, 1, 2]), median(samples), median([7]), median([])]).toEqual([2, 4, 7, NaN]);
    expect(samples).toEqual([5, 1, 4, 2]);
  });

  it('accepts both expected-label file shapes, keyed by name without extension', () => {
    expect([...parseExpected({ test_0: 'bathtub', 'b.JPEG': { label: 'tench', classIndex: 0 } })]).toEqual([
      ['test_0', 'bathtub'],
      ['b', 'tench'],
    ]);
    expect(() => parseExpected({ x: { classIndex: 1 } })).toThrow('--expected: "x" has no label');
    expect(() => parseExpected('nope')).toThrow('--expected must hold a JSON object');
  });

  it('summarises latency, agreement, peak workers and scale-in time', () => {
    const results = [r('a.jpg', 'cat', 100, 1000), r('b.jpg', 'dog', 300, 2000), r('c.jpg', '', 50, 2100, false)];
    const samples: StatusSample[] = [
      { t: 0, running: 0, free: 0, pending: 0, queued: 3 },
      { t: 500, running: 1, free: 0, pending: 2, queued: 3 },
      { t: 1500, running: 3, free: 1, pending: 0, queued: 1 },
      { t: 3000, running: 2, free: 2, pending: 0, queued: 0 },
      { t: 5600, running: 0, free: 0, pending: 0, queued: 0 },
    ];
    const report = summarise(results, 2500, new Map([['a', 'cat'], ['b', 'cow']]), samples);
    expect(report).toEqual({
      requests: 3,
      succeeded: 2,
      failed: 1,
      wallSeconds: 2.5,
      latency: { avg: 200, p50: 100, p95: 300, p99: 300 },
      agreement: { compared: 2, agreed: 1, percent: 50 },
      peakWorkers: 3,
      scaleInSeconds: 3.5,
    });
    const html = renderChart('t', samples, results, report);
    expect(html).toContain('<svg');
    expect(html).toContain('&quot;peakWorkers&quot;: 3');
  });

  it('reports no peak or scale-in without status samples', () => {
    const report = summarise([r('a.jpg', 'cat', 1, 1)], 10, undefined, []);
    expect(report.peakWorkers).toBeNull();
    expect(report.scaleInSeconds).toBeNull();
    expect(report.agreement).toBeNull();
  });
});
