/**
 * `npm run bench:ec2 [-- --boot-seconds 3 --idle-seconds 5 --max-workers 2 --images DIR --count 100 --run-dir DIR]`
 *
 * Runs the whole system with LOCAL_FLEET=ec2 (both controllers on the real EC2
 * provider, against the EC2 stand-in, a test double) and the classic load
 * (one `POST /` per image, all at once), and prints:
 * - time from the first upload to the first RunInstances, and to the first instance running,
 * - peak instances alive (pending, running or shutting down), sampled every 10 ms,
 * - time from the last result to zero instances (every one terminated),
 * - instance-seconds (launch to terminated, summed), which is what EC2 bills.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { EXIT, existingPath, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import type { InstanceView } from '@tools/ec2-standin';
import { listImages } from '@tools/loadgen';
import { startLocalSystem } from '@tools/local-run';
import { DATASET_DIR, MODEL_DIR } from '@tools/testing';

const alive = (i: InstanceView) => i.state !== 'terminated' && i.state !== 'stopped';

const values = parseCommandLine({
  name: 'npm run bench:ec2 --',
  summary: 'Runs the classic load through LOCAL_FLEET=ec2 (the EC2 provider against the EC2 stand-in) and prints launch, boot, scale-in and instance-second figures.',
  flags: {
    'boot-seconds': { type: 'string', description: 'seconds an instance stays pending', default: '3', number: { min: 0 } },
    'idle-seconds': { type: 'string', description: 'IDLE_SECONDS of the workers', default: '5', number: { integer: true, min: 1 } },
    'max-workers': { type: 'string', description: 'MAX_WORKERS', default: '2', number: { integer: true, min: 1 } },
    images: { type: 'string', value: 'DIR', description: 'images to send', default: join(DATASET_DIR, 'imagenet-100/images') },
    count: { type: 'string', description: 'send the first N images', default: '100', number: { integer: true, min: 1 } },
    // Keeps the logs (controllers, stand-in, one per instance) there instead of a temporary folder.
    'run-dir': { type: 'string', value: 'DIR', description: 'keep the logs here (default: a temporary folder, removed)' },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
});

runMain('bench:ec2', async () => {
  existingPath('images', values.images);
  const bootSeconds = Number(values['boot-seconds']);
  const idle = Number(values['idle-seconds']);
  const maxWorkers = Number(values['max-workers']);
  const runDir = values['run-dir'] ?? mkdtempSync(join(tmpdir(), 'bench-ec2-'));
  const system = await startLocalSystem({
    webPort: 0,
    awsPort: 0,
    runDir,
    fleet: 'ec2',
    ec2BootSeconds: bootSeconds,
    env: { MODEL_DIR: process.env['MODEL_DIR'] ?? MODEL_DIR, MAX_WORKERS: String(maxWorkers), IDLE_SECONDS: String(idle), LOG_LEVEL: 'info' },
  });
  const standIn = system.ec2;
  if (!standIn) throw new Error('the local system started without the EC2 stand-in');
  try {
    let firstLaunch: number | undefined;
    let firstRunning: number | undefined;
    let peakAlive = 0;
    const sampler = setInterval(() => {
      const instances = standIn.instances();
      const now = Date.now();
      if (firstLaunch === undefined && instances.length > 0) firstLaunch = now;
      if (firstRunning === undefined && instances.some((i) => i.state === 'running')) firstRunning = now;
      peakAlive = Math.max(peakAlive, instances.filter(alive).length);
    }, 10);

    // The classic load, timed from the first request itself: every file its own `POST /`, all at once.
    const forms = listImages(values.images, Number(values.count)).map((file) => {
      const form = new FormData();
      form.append('myfile', new Blob([readFileSync(file)]), basename(file));
      return form;
    });
    const t0 = Date.now();
    const answers = await Promise.all(
      forms.map(async (body) => {
        const res = await fetch(`${system.webUrl}/`, { method: 'POST', body, signal: AbortSignal.timeout(600_000) });
        return res.status === 200 && /^[^:]+:.+/.test(await res.text());
      }),
    );
    const lastResult = Date.now();
    while (standIn.instances().some(alive)) await new Promise((r) => setTimeout(r, 10));
    const zero = Date.now();
    clearInterval(sampler);

    const instances = standIn.instances();
    const instanceSeconds = instances.reduce((sum, i) => sum + ((i.endedAt?.getTime() ?? zero) - i.launchTime.getTime()) / 1000, 0);
    const secs = (ms: number | undefined) => (ms === undefined ? null : +(ms / 1000).toFixed(2));
    const figures = {
      images: answers.length,
      succeeded: answers.filter(Boolean).length,
      bootSeconds,
      idleSeconds: idle,
      maxWorkers,
      firstUploadToFirstRunInstancesSeconds: secs(firstLaunch === undefined ? undefined : firstLaunch - t0),
      firstUploadToFirstInstanceRunningSeconds: secs(firstRunning === undefined ? undefined : firstRunning - t0),
      wallSeconds: secs(lastResult - t0),
      peakInstances: peakAlive,
      instancesLaunched: instances.length,
      lastResultToZeroInstancesSeconds: secs(zero - lastResult),
      instanceSeconds: +instanceSeconds.toFixed(1),
    };
    console.log(JSON.stringify(figures));
    writeJsonOutput(values.json, figures);
    console.log(
      `first upload → first RunInstances: ${figures.firstUploadToFirstRunInstancesSeconds} s\n` +
        `first upload → first instance running with EC2_BOOT_SECONDS=${bootSeconds}: ${figures.firstUploadToFirstInstanceRunningSeconds} s\n` +
        `${figures.succeeded}/${figures.images} images in ${figures.wallSeconds} s; peak instances ${peakAlive} (MAX_WORKERS=${maxWorkers}), ${instances.length} launched\n` +
        `last result → 0 instances with IDLE_SECONDS=${idle}: ${figures.lastResultToZeroInstancesSeconds} s\n` +
        `instance-seconds: ${figures.instanceSeconds}`,
    );
  } finally {
    await system.stop();
    if (!values['run-dir']) rmSync(runDir, { recursive: true, force: true });
  }
  return EXIT.done;
});
