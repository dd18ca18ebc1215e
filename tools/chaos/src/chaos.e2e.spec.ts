import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKSPACE_ROOT } from '@tools/local-run';
import { MODEL_DIR, SCENES_DIR, SMALL_IMAGES_DIR } from '@tools/testing/files';
import { runChaos, type ChaosReport } from './chaos';
import { imagesIn } from './cli';

/**
 * The short chaos run of `npm test`: fewer images than `npm run chaos`, but every
 * kind of failure — workers SIGKILLed, each controller and the web tier SIGKILLed
 * once, the S3/SQS edge cut — and the same account: every accepted image answered
 * once, with one answer on every channel.
 */
describe('chaos: exactly one answer per image while everything fails', () => {
  let report: ChaosReport;
  const lines: string[] = [];

  beforeAll(async () => {
    report = await runChaos({
      // Photo-sized and small images in the batch; the classic requests take ten others.
      batchImages: [...imagesIn(SCENES_DIR), ...imagesIn(SMALL_IMAGES_DIR).slice(10, 36)],
      classicImages: imagesIn(SMALL_IMAGES_DIR, 10),
      batchSize: 100,
      maxWorkers: 2,
      env: { MODEL_DIR, IDLE_SECONDS: '10', SCALE_TICK_MS: '250', WORKER_KILL_GRACE_MS: '2000' },
      workerKillEveryMs: 1500,
      maxWorkerKills: 3,
      appKillsAtMs: { 'launch-controller': 1000, 'monitor-controller': 2500, 'web-tier': 4000 },
      edgeCutAtMs: 5500,
      edgeCutMs: 3000,
      timeoutMs: 240_000,
      log: (l) => lines.push(`${new Date().toISOString()} ${l}`),
    });
    // The whole account, for reading when a figure below is off.
    const dir = join(WORKSPACE_ROOT, 'test-artifacts/chaos');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'chaos-short.json'), JSON.stringify({ ...report, log: lines }, null, 2));
  }, 300_000);

  it('answers every accepted image, loses none and never gives two answers', () => {
    expect({ accepted: report.accepted, answered: report.answered, lost: report.lost, conflicting: report.conflicting }).toEqual({
      accepted: 40,
      answered: 40,
      lost: 0,
      conflicting: 0,
    });
  });

  it('really did fail everything it says: both controllers and the web tier were killed and restarted, and the edge was cut', () => {
    expect(report.kills.apps.sort()).toEqual(['launch-controller', 'monitor-controller', 'web-tier']);
    expect(report.restarts).toEqual({ 'launch-controller': 1, 'monitor-controller': 1, 'web-tier': 1 });
    expect(report.kills.edgeCutSeconds).toBe(3);
  });

  it('never needed more than MAX_ATTEMPTS tries for an image', () => {
    expect(report.maxAttempts).toBeGreaterThanOrEqual(1);
    expect(report.maxAttempts).toBeLessThanOrEqual(3);
  });
});
