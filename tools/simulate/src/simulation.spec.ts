import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './cli';
import { arrivals, DEFAULTS } from './scenarios';
import { simulate, type Figures, type SimulationConfig } from './simulation';

const burst = (over: Partial<SimulationConfig> = {}): SimulationConfig => ({
  ...DEFAULTS,
  policy: 'work-per-worker',
  arrivals: arrivals('burst', DEFAULTS.seed),
  ...over,
});

describe('simulate', () => {
  it('is deterministic given a seed, and differs with another', () => {
    const steady = (seed: string) => simulate(burst({ seed, arrivals: arrivals('steady', seed, 2000, 120) }));
    expect(steady('7')).toEqual(steady('7'));
    expect(steady('8').figures).not.toEqual(steady('7').figures);
  });

  it('burst: work-per-worker launches 5 of 20 (20 images each) and uses far fewer instance-seconds, finishing within 10 %', () => {
    const next = simulate(burst());
    const old = simulate(burst({ policy: 'one-per-message' }));
    expect(next.figures).toMatchObject({ images: 100, peakInstances: 5 });
    expect(old.figures).toMatchObject({ images: 100, peakInstances: 20 });
    expect(next.unfinished + old.unfinished).toBe(0);
    // Each worker boots (27-33 s), takes 20 images and finishes them at 1 s each.
    expect(next.figures.completedSeconds).toBeGreaterThan(47);
    expect(next.figures.completedSeconds).toBeLessThan(54);
    expect(next.figures.instanceSeconds).toBeLessThan(old.figures.instanceSeconds / 3);
    expect(next.figures.completedSeconds).toBeLessThanOrEqual(old.figures.completedSeconds * 1.1);
    // Every instance idles IDLE_SECONDS after its last image, then ends itself.
    expect(next.figures.backToZeroSeconds).toBeCloseTo(60, 0);
    expect(next.figures.costUsd).toBeCloseTo((next.figures.instanceSeconds / 3600) * DEFAULTS.pricePerHour, 4);
  });

  it('steady: 10,000 images over 10 minutes, answered by no more than MAX_WORKERS with fewer instance-seconds', () => {
    const steady = arrivals('steady', DEFAULTS.seed);
    expect(steady).toHaveLength(10_000);
    expect(steady.at(-1)).toBeGreaterThan(570);
    expect(steady.at(-1)).toBeLessThan(630);
    const next = simulate(burst({ arrivals: steady }));
    const old = simulate(burst({ policy: 'one-per-message', arrivals: steady }));
    expect(next.unfinished + old.unfinished).toBe(0);
    expect(next.peakAlive).toBeLessThanOrEqual(20);
    expect(next.figures.instanceSeconds).toBeLessThan(old.figures.instanceSeconds);
    // Once the fleet has grown to the load (the backlog grew: it was not keeping up), images wait little.
    expect(next.figures.latency.p50).toBeLessThan(5);
  });

  it("receives as the worker's ReceiveGate does: a quarter of the budget when images are quick, one at a time when they are slow", () => {
    // One worker (20 images waiting per worker), 100 images at once.
    const one = (imageSeconds: number) => simulate(burst({ maxWorkers: 1, imageSeconds, bootJitter: 0 }));
    const quick = one(0.01);
    // Ten and ten to fill the budget of 20, then five (a quarter) each time five are done.
    expect(quick.receives).toBe(2 + 80 / 5);
    // An image takes longer than the 0.2 s gather time: each slot freed is filled on its own.
    const slow = one(1);
    expect(slow.receives).toBe(2 + 80);
    expect(quick.unfinished + slow.unfinished).toBe(0);
  });

  it('the old policy boots 15 instances that never get an image (the first five to boot take all 100)', () => {
    const old = simulate(burst({ policy: 'one-per-message' }));
    // 20 instances x (about 30 s boot + 60 s idle), five of them with 20 s of work.
    expect(old.figures.instanceSeconds).toBeGreaterThan(20 * 85 + 5 * 20);
    expect(old.launches).toEqual([{ t: 0, count: 20, reason: 'scale from zero: backlog 100 needs 100, 0 alive' }]);
  });

  it.each([
    ['burst', 'work-per-worker', 0],
    ['burst', 'one-per-message', 0],
    ['steady', 'work-per-worker', 0],
    ['steady', 'one-per-message', 10],
    ['steady', 'work-per-worker', 10],
  ] as const)('never more than MAX_WORKERS alive: %s, %s, describe lag %i s', (scenario, policy, lag) => {
    const r = simulate(
      burst({ policy, maxWorkers: 7, prefetch: 5, describeLagSeconds: lag, arrivals: arrivals(scenario, '3', scenario === 'steady' ? 3000 : 200, 120) }),
    );
    expect(r.peakAlive).toBeLessThanOrEqual(7);
    expect(Math.max(...r.samples.map((s) => s.instances))).toBeLessThanOrEqual(7);
    expect(r.unfinished).toBe(0);
  });

  it('with failures, every image still gets one answer: re-queued after a death, an error after MAX_ATTEMPTS', () => {
    const r = simulate(burst({ failureRate: 0.3, requeueSeconds: 10 }));
    expect(r.unfinished).toBe(0);
    expect(r.errors).toBeGreaterThan(0);
    expect(r.errors).toBeLessThan(100);
    // Lost workers are replaced: more launched than the five a clean run needs.
    expect(r.launches.reduce((s, l) => s + l.count, 0)).toBeGreaterThan(5);
    expect(r.peakAlive).toBeLessThanOrEqual(20);
  });

  it('a policy told the wrong image time sizes the fleet from it', () => {
    // Told 0.01 s per image, it credits each busy worker with 3000 images per boot time and
    // grows only once the backlog has grown for a whole boot time: images wait longer.
    const load = arrivals('steady', '1', 1000, 60);
    const wrong = simulate(burst({ arrivals: load, assumed: { imageSeconds: 0.01 } }));
    const right = simulate(burst({ arrivals: load }));
    expect(wrong.launches[0].t).toBe(right.launches[0].t);
    expect(wrong.figures.latency.p50).toBeGreaterThan(right.figures.latency.p50 + 5);
    expect(wrong.unfinished).toBe(0);
  });

  it('Spot: interrupted workers hand their images back (no attempt spent), every image is answered, and the bill is the Spot price', () => {
    const load = arrivals('steady', '5', 2000, 120);
    const spot = simulate(burst({ arrivals: load, spot: { pricePerHour: 0.01, interruptionsPerHour: 120, fallbackShare: 0, handBackSeconds: 1 } }));
    expect(spot.interruptions).toBeGreaterThan(3);
    expect(spot.unfinished).toBe(0);
    expect(spot.errors).toBe(0);
    expect(spot.onDemandLaunches).toBe(0);
    expect(spot.figures.costUsd).toBeCloseTo((spot.figures.instanceSeconds / 3600) * 0.01, 4);
    const half = simulate(burst({ arrivals: load, spot: { pricePerHour: 0.01, interruptionsPerHour: 0, fallbackShare: 0.5, handBackSeconds: 1 } }));
    expect(half.spotLaunches).toBeGreaterThan(0);
    expect(half.onDemandLaunches).toBeGreaterThan(0);
    expect(half.interruptions).toBe(0);
  });

  it('refuses settings it cannot simulate', () => {
    expect(() => simulate(burst({ prefetch: 0 }))).toThrow('prefetch must be a positive integer (got 0)');
    expect(() => simulate(burst({ failureRate: 1 }))).toThrow('failureRate must be in [0, 1) (got 1)');
  });
});

describe('npm run simulate', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'simulate-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the figures with exactly the documented keys, and a chart of instances and backlog', () => {
    const json = join(dir, 'out.json');
    const chart = join(dir, 'out.html');
    const out = runCli(['--scenario', 'burst', '--json', json, '--chart', chart, '--price-per-hour', '1']);
    const figures = JSON.parse(readFileSync(json, 'utf8')) as Figures;
    expect(Object.keys(figures)).toEqual(['images', 'completedSeconds', 'latency', 'peakInstances', 'instanceSeconds', 'costUsd', 'costPer1000Images', 'backToZeroSeconds']);
    expect(figures.costPer1000Images).toBeCloseTo((figures.costUsd / figures.images) * 1000, 3);
    expect(Object.keys(figures.latency)).toEqual(['p50', 'p95', 'p99']);
    expect(figures.costUsd).toBeCloseTo(figures.instanceSeconds / 3600, 4);
    const html = readFileSync(chart, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('work-per-worker: instances (solid), backlog (dashed)');
    expect(out.text).toMatch(/^peak instances\s+5/m);
  });

  it('--compare runs the old one-per-message policy beside the new one', () => {
    const json = join(dir, 'out.json');
    runCli(['--compare', '--json', json, '--max-workers', '10']);
    const both = JSON.parse(readFileSync(json, 'utf8')) as Record<string, Figures>;
    expect(Object.keys(both)).toEqual(['work-per-worker', 'one-per-message']);
    expect(both['one-per-message'].peakInstances).toBe(10);
  });

  it('--compare-cost writes today (tfjs, on-demand, x86) and proposed (onnx, spot-first, arm64) with their inputs; proposed costs at most a tenth', () => {
    const json = join(dir, 'cost.json');
    const saved = process.env['BENCH_CLASSIFIER_JSON'];
    process.env['BENCH_CLASSIFIER_JSON'] = join(dir, 'no-bench-yet.json');
    try {
      const out = runCli(['--scenario', 'steady', '--compare-cost', '--json', json]);
      const both = JSON.parse(readFileSync(json, 'utf8')) as Record<string, Figures & { inputs: Record<string, unknown> }>;
      expect(Object.keys(both)).toEqual(['today', 'proposed']);
      for (const f of Object.values(both)) {
        expect(Object.keys(f)).toEqual(['images', 'completedSeconds', 'latency', 'peakInstances', 'instanceSeconds', 'costUsd', 'costPer1000Images', 'backToZeroSeconds', 'inputs']);
        expect(f.images).toBe(10_000);
      }
      expect(both['today'].inputs).toMatchObject({ engine: 'tfjs', engineMs: 141, capacity: 'on-demand', architecture: 'x86_64', instanceType: 'c7i.large', onDemandPricePerHour: 0.08925 });
      expect(both['proposed'].inputs).toMatchObject({ engine: 'onnx', engineMs: 21, capacity: 'spot-first', architecture: 'arm64', spotPricePerHour: 0.0145 });
      // Priced with the worker's CPU outside the model as measured, not the lean path's 3 ms target.
      expect(both['proposed'].inputs).toMatchObject({ overheadMs: 8.7, overheadMsSource: 'measured on the development machine (constant)' });
      expect(both['today'].inputs).toMatchObject({ overheadMs: 14.2, overheadMsSource: 'measured before the lean path (constant)' });
      expect(both['today'].inputs['imageSeconds']).toBeCloseTo(0.1552, 4);
      expect(both['proposed'].costPer1000Images).toBeLessThanOrEqual(both['today'].costPer1000Images / 10);
      expect(out.text).toMatch(/^proposed \/ today cost per 1000 images: 0\.0\d\d/m);
    } finally {
      if (saved === undefined) delete process.env['BENCH_CLASSIFIER_JSON'];
      else process.env['BENCH_CLASSIFIER_JSON'] = saved;
    }
  });

  it('--engine takes its per-image time from the last bench:classifier report when there is one, --engine-ms over both', () => {
    const bench = join(dir, 'bench.json');
    writeFileSync(bench, JSON.stringify({ engines: { tfjs: { rawImagesPerSecond: 5 }, onnx: { rawImagesPerSecond: 40 } } }));
    const saved = process.env['BENCH_CLASSIFIER_JSON'];
    process.env['BENCH_CLASSIFIER_JSON'] = bench;
    try {
      const run = (args: string[]) => (runCli(['--images', '40', ...args]).json as Figures & { inputs: Record<string, unknown> }).inputs;
      expect(run(['--engine', 'onnx', '--overhead-ms', '0'])).toMatchObject({ engineMs: 25, engineMsSource: bench, imageSeconds: 0.025 });
      expect(run(['--engine', 'tfjs'])).toMatchObject({ engineMs: 200, overheadMs: 14.2 });
      expect(run(['--engine', 'tfjs', '--engine-ms', '100', '--capacity', 'spot'])).toMatchObject({ engineMs: 100, engineMsSource: '--engine-ms', capacity: 'spot', spotFallbackShare: 0 });
    } finally {
      if (saved === undefined) delete process.env['BENCH_CLASSIFIER_JSON'];
      else process.env['BENCH_CLASSIFIER_JSON'] = saved;
    }
  });

  it('--compare-cost prices the proposal with the worker overhead bench:classifier last measured for ONNX', () => {
    const bench = join(dir, 'bench-overhead.json');
    writeFileSync(bench, JSON.stringify({ engines: { onnx: { rawImagesPerSecond: 100, cpuMsPerImage: { workerOutsideModel: 12.5 } } } }));
    const saved = process.env['BENCH_CLASSIFIER_JSON'];
    process.env['BENCH_CLASSIFIER_JSON'] = bench;
    try {
      const json = join(dir, 'cost-measured.json');
      runCli(['--scenario', 'steady', '--compare-cost', '--json', json]);
      const both = JSON.parse(readFileSync(json, 'utf8')) as Record<string, { inputs: Record<string, unknown> }>;
      expect(both['proposed'].inputs).toMatchObject({ engineMs: 10, overheadMs: 12.5, overheadMsSource: bench, imageSeconds: 0.0225 });
      // Today's path is what it was: its overhead is not the lean path's.
      expect(both['today'].inputs).toMatchObject({ overheadMs: 14.2 });
      expect((runCli(['--images', '40', '--engine', 'onnx', '--overhead-ms', '2']).json as Figures & { inputs: Record<string, unknown> }).inputs).toMatchObject({ overheadMs: 2, overheadMsSource: '--overhead-ms' });
    } finally {
      if (saved === undefined) delete process.env['BENCH_CLASSIFIER_JSON'];
      else process.env['BENCH_CLASSIFIER_JSON'] = saved;
    }
  });

  it('rejects an unknown scenario, policy, flag or a bad number', () => {
    expect(() => runCli(['--capacity', 'reserved'])).toThrow('--capacity must be one of on-demand, spot, spot-first (got reserved)');
    expect(() => runCli(['--engine', 'tfjs-node'])).toThrow('--engine must be one of tfjs, onnx (got tfjs-node)');
    expect(() => runCli(['--scenario', 'spike'])).toThrow('--scenario must be one of burst, steady (got spike)');
    expect(() => runCli(['--policy', 'greedy'])).toThrow('--policy must be one of work-per-worker, one-per-message (got greedy)');
    expect(() => runCli(['--boot-seconds', 'soon'])).toThrow('--boot-seconds must be a number >= 0 (got soon)');
    expect(() => runCli(['--frobnicate'])).toThrow(/unknown option '--frobnicate'/);
  });
});
