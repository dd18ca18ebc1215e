import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '@tools/loadgen';
import { DATASET_DIR, MODEL_DIR } from '@tools/testing';
import type { LocalSystem } from './system';
import { liveWorkerPids, WorkerCensus } from './worker-census';
import { startTestSystem, stopAllSystems, until } from './e2e-helpers';

const MAX_WORKERS = 4;
const IMAGENET_LABELS = new Set(JSON.parse(readFileSync(join(DATASET_DIR, 'imagenet-labels.json'), 'utf8')) as string[]);

describe('the whole system end to end, through the load generator', () => {
  let runDir: string;
  let system: LocalSystem;

  beforeAll(async () => {
    runDir = mkdtempSync(join(tmpdir(), 'system-e2e-'));
    system = await startTestSystem({
      webPort: 0,
      awsPort: 0,
      runDir,
      env: { MODEL_DIR, MAX_WORKERS: String(MAX_WORKERS), IDLE_SECONDS: '3', LOG_LEVEL: 'info' },
    });
  }, 90_000);

  afterAll(async () => {
    const runId = system?.runId;
    await stopAllSystems(); // also a system whose start outlived beforeAll's timeout
    if (runId) expect(liveWorkerPids(runId)).toEqual([]);
    rmSync(runDir, { recursive: true, force: true });
  }, 240_000); // a start still in flight (up to three 60 s ready waits), then the stop

  it('answers all 100 classic requests at concurrency 100 from zero workers, within MAX_WORKERS, and scales back to zero', async () => {
    await until(() => liveWorkerPids(system.runId).length === 0, 15_000, 'zero workers before the run');
    const census = new WorkerCensus(system.runId, 100).start();
    const run = await runLoad({
      url: system.webUrl,
      imagesDir: join(DATASET_DIR, 'imagenet-100/images'),
      expectedFile: join(DATASET_DIR, 'imagenet-100/expected-labels.json'),
      concurrency: 100,
      mode: 'classic',
      scaleInTimeoutMs: 30_000,
      progress: false,
    });
    census.stop();
    expect(run.report).toMatchObject({ requests: 100, succeeded: 100, failed: 0 });
    const names = run.results.map((r) => r.name).sort();
    expect(new Set(names).size).toBe(100);
    for (const r of run.results) expect(IMAGENET_LABELS.has(r.label ?? '')).toBe(true);
    expect(census.peak).toBeGreaterThanOrEqual(1);
    expect(census.peak).toBeLessThanOrEqual(MAX_WORKERS);
    expect(run.report.peakWorkers).toBeLessThanOrEqual(MAX_WORKERS);
    // The load generator watched the fleet go back to zero.
    expect(run.report.scaleInSeconds).not.toBeNull();
    expect(liveWorkerPids(system.runId)).toEqual([]);
  }, 240_000);

  it('batch mode over 50 photos agrees with their true classes as often as the model does directly', async () => {
    const dir = join(DATASET_DIR, 'imagenet-sample/images');
    const expectedFile = join(DATASET_DIR, 'imagenet-sample/expected-labels.json');
    const run = await runLoad({
      url: system.webUrl,
      imagesDir: dir,
      expectedFile,
      limit: 50,
      concurrency: 1,
      mode: 'batch',
      scaleInTimeoutMs: 0,
      progress: false,
    });
    expect(run.report).toMatchObject({ requests: 50, succeeded: 50, failed: 0 });
    const direct = await directTop1(readdirSync(dir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).slice(0, 50), dir, expectedFile);
    expect(run.report.agreement?.compared).toBe(50);
    expect(run.report.agreement?.agreed).toBeGreaterThanOrEqual(direct);
  }, 240_000);
});

/** Top-1 agreement of the model run directly (no queues, no workers) on the same files. */
async function directTop1(files: string[], dir: string, expectedFile: string): Promise<number> {
  const { Classifier } = await import('@app/classifier');
  const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as Record<string, { label: string }>;
  const classifier = await Classifier.create({ modelDir: MODEL_DIR, thread: false });
  try {
    let agreed = 0;
    for (const f of files) {
      const c = await classifier.classify(readFileSync(join(dir, f)));
      if (c.label === expected[f.replace(/\.[^.]+$/, '')]?.label) agreed++;
    }
    return agreed;
  } finally {
    await classifier.close();
  }
}
