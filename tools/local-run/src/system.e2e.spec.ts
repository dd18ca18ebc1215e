import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '@tools/loadgen';
import { MODEL_DIR, SMALL_IMAGES_DIR, smallImageNames } from '@tools/testing/files';
import { until } from '@tools/testing/eventually';
import { writeModelAnswerKey } from './answer-key';
import type { LocalSystem } from './system';
import { liveWorkerPids, WorkerCensus } from './worker-census';
import { startTestSystem, stopAllSystems } from './e2e-helpers';

const MAX_WORKERS = 4;

describe('the whole system end to end, through the load generator', () => {
  let runDir: string;
  let system: LocalSystem;
  /** The model's own answer for each test image, computed in this process. */
  let answerKey: string;

  beforeAll(async () => {
    runDir = mkdtempSync(join(tmpdir(), 'system-e2e-'));
    answerKey = await writeModelAnswerKey(SMALL_IMAGES_DIR, smallImageNames(), join(runDir, 'answer-key.json'));
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

  it('answers all 100 classic requests at concurrency 100 from zero workers with the model\'s labels, within MAX_WORKERS, and scales back to zero', async () => {
    await until('zero workers before the run', () => liveWorkerPids(system.runId).length === 0, 15_000, 100);
    const census = new WorkerCensus(system.runId, 100).start();
    const run = await runLoad({
      url: system.webUrl,
      imagesDir: SMALL_IMAGES_DIR,
      expectedFile: answerKey,
      concurrency: 100,
      mode: 'classic',
      scaleInTimeoutMs: 30_000,
      progress: false,
    });
    census.stop();
    expect(run.report).toMatchObject({ requests: 100, succeeded: 100, failed: 0 });
    const names = run.results.map((r) => r.name).sort();
    expect(new Set(names).size).toBe(100);
    expect(run.report.agreement).toMatchObject({ compared: 100, agreed: 100 });
    expect(census.peak).toBeGreaterThanOrEqual(1);
    expect(census.peak).toBeLessThanOrEqual(MAX_WORKERS);
    expect(run.report.peakWorkers).toBeLessThanOrEqual(MAX_WORKERS);
    // The load generator watched the fleet go back to zero.
    expect(run.report.scaleInSeconds).not.toBeNull();
    expect(liveWorkerPids(system.runId)).toEqual([]);
  }, 240_000);

  it('batch mode over 50 images gives each the label the model gives it directly', async () => {
    const run = await runLoad({
      url: system.webUrl,
      imagesDir: SMALL_IMAGES_DIR,
      expectedFile: answerKey,
      limit: 50,
      concurrency: 1,
      mode: 'batch',
      scaleInTimeoutMs: 0,
      progress: false,
    });
    expect(run.report).toMatchObject({ requests: 50, succeeded: 50, failed: 0 });
    expect(run.report.agreement).toMatchObject({ compared: 50, agreed: 50 });
  }, 240_000);
});
