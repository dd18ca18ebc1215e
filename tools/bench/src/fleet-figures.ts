/**
 * `npm run bench:fleet [-- --idle-seconds 5 --max-workers 4 --images DIR --count 100]`
 *
 * Runs the whole local system once and prints the fleet's figures:
 * - time from the first upload to the first worker process (goal ≤ 1 s locally),
 * - peak workers alive, sampled every 100 ms from /proc (must equal MAX_WORKERS for 100 images),
 * - time from the last result to zero workers with IDLE_SECONDS = n (goal ≤ n + 2 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, existingPath, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { listImages } from '@tools/loadgen';
import { DATASET_DIR, MODEL_DIR } from '@tools/testing';
import { liveWorkerPids, startLocalSystem, upload, WorkerCensus } from '@tools/local-run';

const values = parseCommandLine({
  name: 'npm run bench:fleet --',
  summary: "Runs the whole local system once and prints the fleet's figures: first upload to first worker, peak workers, last result to zero workers.",
  flags: {
    'idle-seconds': { type: 'string', description: 'IDLE_SECONDS of the workers', default: '5', number: { integer: true, min: 1 } },
    'max-workers': { type: 'string', description: 'MAX_WORKERS', default: '4', number: { integer: true, min: 1 } },
    images: { type: 'string', value: 'DIR', description: 'images to upload', default: join(DATASET_DIR, 'imagenet-100/images') },
    count: { type: 'string', description: 'upload the first N images', default: '100', number: { integer: true, min: 1 } },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
});

runMain('bench:fleet', async () => {
  const idle = Number(values['idle-seconds']);
  const maxWorkers = Number(values['max-workers']);
  const files = listImages(existingPath('images', values.images), Number(values.count));
  const runDir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const system = await startLocalSystem({
    webPort: 0,
    awsPort: 0,
    runDir,
    env: { MODEL_DIR: process.env['MODEL_DIR'] ?? MODEL_DIR, MAX_WORKERS: String(maxWorkers), IDLE_SECONDS: String(idle), LOG_LEVEL: 'info' },
  });
  try {
    const census = new WorkerCensus(system.runId, 100).start();
    const t0 = Date.now();
    const uploaded = upload(system.webUrl, files);
    // Watch for the first worker process more finely than the 100 ms census.
    while (liveWorkerPids(system.runId).length === 0) await new Promise((r) => setTimeout(r, 10));
    const firstWorkerSeconds = (Date.now() - t0) / 1000;
    const { batchId } = await uploaded;
    const results = await new Promise<{ completedAt?: string }[]>((resolve, reject) => {
      const timer = setInterval(async () => {
        try {
          const b = (await (await fetch(`${system.webUrl}/api/batches/${batchId}`)).json()) as { finished: boolean; images: { completedAt?: string }[] };
          if (b.finished) {
            clearInterval(timer);
            resolve(b.images);
          }
        } catch (err) {
          clearInterval(timer);
          reject(err);
        }
      }, 100);
    });
    const lastResult = Math.max(...results.map((r) => Date.parse(r.completedAt ?? '') || 0));
    while (liveWorkerPids(system.runId).length > 0) await new Promise((r) => setTimeout(r, 20));
    const scaleInSeconds = (Date.now() - lastResult) / 1000;
    census.stop();
    const figures = {
      images: files.length,
      maxWorkers,
      idleSeconds: idle,
      firstUploadToFirstWorkerSeconds: +firstWorkerSeconds.toFixed(2),
      peakWorkers: census.peak,
      lastResultToZeroWorkersSeconds: +scaleInSeconds.toFixed(2),
      wallSeconds: +((lastResult - t0) / 1000).toFixed(2),
    };
    console.log(JSON.stringify(figures));
    writeJsonOutput(values.json, figures);
    console.log(
      `first upload → first worker: ${figures.firstUploadToFirstWorkerSeconds} s (goal ≤ 1 s)\n` +
        `peak workers for ${files.length} images with MAX_WORKERS=${maxWorkers}: ${figures.peakWorkers}\n` +
        `last result → 0 workers with IDLE_SECONDS=${idle}: ${figures.lastResultToZeroWorkersSeconds} s (goal ≤ ${idle + 2} s)`,
    );
  } finally {
    await system.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
  return EXIT.done;
});
