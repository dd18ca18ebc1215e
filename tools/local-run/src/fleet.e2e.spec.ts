import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resultKey, parseOutputMessage } from '@app/contracts';
import { DATASET_DIR, MODEL_DIR } from '@tools/testing';
import type { AwsClients, AwsResources } from '@app/aws';
import { resourcesOf, until, upload, waitForBatch, workerRecords } from './e2e-helpers';
import { startLocalSystem, type LocalSystem } from './system';
import { liveWorkerPids, WorkerCensus } from './worker-census';

const MAX_WORKERS = 3;
const IDLE_SECONDS = 3;
const DEADLINE_SECONDS = 6;
const small = (n: number) => Array.from({ length: n }, (_, i) => join(DATASET_DIR, 'imagenet-100/images', `test_${i}.JPEG`));
const photos = readdirSync(join(DATASET_DIR, 'imagenet-sample/images'))
  .sort()
  .map((f) => join(DATASET_DIR, 'imagenet-sample/images', f));

describe('elastic fleet end to end: launch controller, local workers, monitor controller', () => {
  let runDir: string;
  let system: LocalSystem;
  let census: WorkerCensus;
  let resources: AwsResources;
  let clients: AwsClients;

  beforeAll(async () => {
    runDir = mkdtempSync(join(tmpdir(), 'fleet-e2e-'));
    system = await startLocalSystem({
      webPort: 0,
      awsPort: 0,
      runDir,
      env: {
        MODEL_DIR,
        MAX_WORKERS: String(MAX_WORKERS),
        IDLE_SECONDS: String(IDLE_SECONDS),
        IMAGE_DEADLINE_SECONDS: String(DEADLINE_SECONDS),
        SCALE_TICK_MS: '250',
        WORKER_KILL_GRACE_MS: '2000',
        LOG_LEVEL: 'info',
      },
    });
    ({ resources, clients } = resourcesOf(system));
    census = new WorkerCensus(system.runId, 100).start();
  }, 90_000);

  afterAll(async () => {
    census?.stop();
    clients?.destroy();
    const runId = system?.runId;
    await system?.stop();
    if (runId) expect(liveWorkerPids(runId)).toEqual([]);
    rmSync(runDir, { recursive: true, force: true });
  }, 60_000);

  afterEach(() => {
    // Sampled every 100 ms for the whole run: never more than MAX_WORKERS alive.
    expect(census.peak).toBeLessThanOrEqual(MAX_WORKERS);
  });

  it('scales 0 → workers for 20 images, gives one result per image, and scales back to 0', async () => {
    await until(() => liveWorkerPids(system.runId).length === 0, 10_000, 'no workers at start');
    const answer = await upload(system.webUrl, small(20));
    const batch = await waitForBatch(system.webUrl, answer.batchId, 90_000);
    expect(batch.done).toBe(20);
    expect(batch.images.every((i) => i.status === 'done' && typeof i.label === 'string' && i.label.length > 0)).toBe(true);
    for (const img of answer.images) {
      const stored = parseOutputMessage((await resources.outputBucket.getBuffer(resultKey(img.imageId))).toString());
      expect(stored).toMatchObject({ imageId: img.imageId, status: 'ok' });
    }
    expect(census.peak).toBeGreaterThanOrEqual(1);
    const lastResult = Date.now();
    await until(() => liveWorkerPids(system.runId).length === 0, (IDLE_SECONDS + 10) * 1000, 'the fleet to scale in to zero');
    expect((Date.now() - lastResult) / 1000).toBeLessThanOrEqual(IDLE_SECONDS + 10);
  }, 150_000);

  it('re-queues the image of a worker killed with SIGKILL mid-image; another worker classifies it, once', async () => {
    // The kill must land while the worker holds the image; if the worker was
    // faster than the kill, try again with the next photo.
    for (const photo of photos.slice(0, 4)) {
      const answer = await upload(system.webUrl, [photo]);
      let killed: string | undefined;
      await until(
        () => {
          const busy = workerRecords(system.fleetDir).find((w) => w.workerState === 'busy');
          if (busy) {
            process.kill(busy.pid, 'SIGKILL');
            killed = busy.id;
          }
          return killed !== undefined;
        },
        30_000,
        'a worker to take the image',
        5,
      );
      const batch = await waitForBatch(system.webUrl, answer.batchId, (DEADLINE_SECONDS + 30) * 1000);
      const [img] = batch.images;
      expect(img.status).toBe('done');
      if (img.attempts === 1) continue; // the worker finished before the kill
      expect(img.attempts).toBe(2);
      expect(img.producedBy).not.toBe(killed);
      const objects = (await resources.outputBucket.list()).filter((o) => o.key === resultKey(answer.images[0].imageId));
      expect(objects).toHaveLength(1);
      return;
    }
    throw new Error('no kill landed mid-image in 4 tries');
  }, 200_000);

  it('gives an error result after exactly 3 attempts when the image kills its worker every time', async () => {
    const answer = await upload(system.webUrl, [photos[10]]);
    const kills: string[] = [];
    let finished = false;
    const killer = (async () => {
      while (!finished) {
        for (const w of workerRecords(system.fleetDir)) {
          if (w.workerState === 'busy' && !kills.includes(w.id)) {
            try {
              process.kill(w.pid, 'SIGKILL');
              kills.push(w.id);
            } catch {
              // already gone
            }
          }
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const batch = await waitForBatch(system.webUrl, answer.batchId, 3 * (DEADLINE_SECONDS + 20) * 1000);
    // A little longer: a fourth attempt would show up as another busy worker.
    await new Promise((r) => setTimeout(r, (DEADLINE_SECONDS + 2) * 1000));
    finished = true;
    await killer;
    const [img] = batch.images;
    expect(img).toMatchObject({ status: 'error', attempts: 3, producedBy: 'monitor-controller' });
    expect(img.error?.permanent).toBe(false);
    expect(img.error?.reason).toMatch(/^no result after 3 attempts/);
    expect(kills).toHaveLength(3);
  }, 200_000);
});
