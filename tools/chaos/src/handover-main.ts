/**
 * `npx tsx --tsconfig tsconfig.base.json tools/chaos/src/handover-main.ts [--json OUT]`
 *
 * `CONTROL_PLANES=2 LOCAL_FLEET=ec2 npm start`, then a burst of images; once the
 * launch leaseholder has launched, it is SIGKILLed and the rest of the burst is
 * uploaded at once. Prints how soon a controller held the lease again, how soon
 * after the kill the next instance was launched, the most instances pending or
 * running at once (the EC2 stand-in's own count, sampled), whether every image
 * was answered and whether the fleet went back to zero.
 */
import { basename, join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EXIT, existingPath, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { IcsClient } from '@app/api-client';
import { listImages } from '@tools/loadgen';
import { LOCAL_CREDENTIALS } from '@tools/local-aws';
import { spawnNpmStart, waitForNpmStart } from '@tools/local-run';
import { DATASET_DIR, processesWithEnv, WORKSPACE_ROOT } from '@tools/testing';

const values = parseCommandLine({
  name: 'npx tsx --tsconfig tsconfig.base.json tools/chaos/src/handover-main.ts',
  summary: 'CONTROL_PLANES=2 LOCAL_FLEET=ec2 npm start under a burst, the launch leaseholder SIGKILLed mid-burst: handover time, first launch after the kill, peak instances.',
  flags: {
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
    images: { type: 'string', value: 'DIR', description: 'the burst (500 photos: a smaller one is done by the first worker before the standby takes over, and needs no launch)', default: join(DATASET_DIR, 'imagenet-sample/images') },
    first: { type: 'string', description: 'images uploaded before the kill (the rest right after it)', default: '10', number: { integer: true, min: 1 } },
    'max-workers': { type: 'string', description: 'MAX_WORKERS of the stack', default: '4', number: { integer: true, min: 1 } },
    timeout: { type: 'string', description: 'give up after this many seconds', default: '600', number: { min: 1 } },
  },
  epilog: 'Passes MODEL_DIR, IDLE_SECONDS and LOCAL_RUN_SKIP_BUILD on to npm start. Exit 1 when no launch came within 15 s of the kill, the fleet went above MAX_WORKERS, an image went unanswered or the fleet did not go back to zero.',
});

const line = (output: string, name: string) => new RegExp(`${name}\\s+(http://\\S+?)(/api/fleet)?\\s`).exec(output)?.[1];

async function leaseOf(url: string): Promise<string | undefined> {
  try {
    return ((await (await fetch(`${url}/api/fleet`, { signal: AbortSignal.timeout(2000) })).json()) as { lease?: string }).lease;
  } catch {
    return undefined;
  }
}

runMain('handover', async () => {
  const files = listImages(existingPath('images', values.images));
  const first = Number(values.first);
  const maxWorkers = Number(values['max-workers']);
  const deadline = Date.now() + Number(values.timeout) * 1000;
  const runDir = mkdtempSync(join(tmpdir(), 'handover-'));
  const passed = Object.fromEntries(['MODEL_DIR', 'IDLE_SECONDS', 'LOCAL_RUN_SKIP_BUILD'].flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : [])));
  const run = spawnNpmStart(['npm', 'start'], {
    cwd: WORKSPACE_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', IDLE_SECONDS: '20', ...passed, CONTROL_PLANES: '2', LOCAL_FLEET: 'ec2', EC2_BOOT_SECONDS: '1', MAX_WORKERS: String(maxWorkers), PORT: '0', LOCAL_AWS_PORT: '0', LOCAL_RUN_DIR: runDir },
  });
  const ec2Holder: { client?: EC2Client } = {};
  try {
    const webUrl = await waitForNpmStart(run, 600_000);
    const out = run.output();
    const launchers = [line(out, 'Fleet status'), line(out, 'Launcher 2')].filter((u): u is string => !!u);
    const ec2Endpoint = line(out, 'EC2 stand-in');
    if (launchers.length !== 2 || !ec2Endpoint) throw new Error(`npm start did not print two launchers and the EC2 stand-in:\n${out}`);
    const ec2 = (ec2Holder.client = new EC2Client({ endpoint: ec2Endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS }));

    // The stand-in's own count of instances pending or running, sampled every 250 ms.
    let peak = 0;
    let live = 0;
    const launchTimes: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          const r = await ec2.send(new DescribeInstancesCommand({}));
          const all = (r.Reservations ?? []).flatMap((x) => x.Instances ?? []);
          live = all.filter((i) => i.State?.Name === 'pending' || i.State?.Name === 'running').length;
          peak = Math.max(peak, live);
          launchTimes.splice(0, launchTimes.length, ...all.map((i) => i.LaunchTime?.getTime() ?? 0));
        } catch {
          // a missed sample
        }
        await sleep(250);
      }
    })();

    const client = new IcsClient({ url: webUrl });
    const upload = (batch: string[]) => client.uploadImages(batch.map((f) => ({ name: basename(f), data: new Blob([readFileSync(f)]) })));
    const batches = [(await upload(files.slice(0, first))).batchId];
    console.error(`first ${first} images uploaded; waiting for the leaseholder's first launch`);
    while (launchTimes.length === 0 && Date.now() < deadline) await sleep(100);

    // The leaseholder, by its own status, and its process, by its port.
    let holderUrl: string | undefined;
    while (!holderUrl && Date.now() < deadline) {
      for (const u of launchers) if ((await leaseOf(u)) === 'holder') holderUrl = u;
    }
    if (!holderUrl) throw new Error('no launch controller says it holds the lease');
    const pids = processesWithEnv(`PORT=${new URL(holderUrl).port}`, 'APP_NAME=launch-controller');
    if (pids.length !== 1) throw new Error(`expected one process for the leaseholder at ${holderUrl}, found ${pids.length}`);
    const killedAt = Date.now();
    process.kill(pids[0], 'SIGKILL');
    const launchedBefore = launchTimes.length;
    console.error(`SIGKILLed the leaseholder ${holderUrl} (pid ${pids[0]}) with ${launchedBefore} instance(s) launched; uploading the other ${files.length - first}`);
    // In uploads of at most 100 files (the web tier's MAX_FILES default), while the handover is watched.
    const rest = (async () => {
      for (let i = first; i < files.length; i += 100) batches.push((await upload(files.slice(i, i + 100))).batchId);
    })();

    let handoverSeconds: number | null = null;
    let newHolder: string | null = null;
    while (handoverSeconds === null && Date.now() < deadline) {
      for (const u of launchers) {
        if ((await leaseOf(u)) === 'holder') {
          handoverSeconds = Math.round((Date.now() - killedAt) / 100) / 10;
          newHolder = u === holderUrl ? 'the killed one, restarted' : 'the standby';
        }
      }
      await sleep(200);
    }
    await rest;

    let answered = 0;
    for (;;) {
      const views = await Promise.all(batches.map((b) => client.getBatch(b).catch(() => undefined)));
      answered = views.reduce((n, v) => n + (v?.images.filter((i) => i.status !== 'queued').length ?? 0), 0);
      if (answered >= files.length || Date.now() > deadline) break;
      await sleep(1000);
    }
    const answeredAt = Date.now();
    while (live > 0 && Date.now() < deadline) await sleep(500);
    sampling = false;
    await sampler;
    const after = launchTimes.filter((t) => t >= killedAt).sort((a, b) => a - b);
    const firstLaunch = after.length ? Math.max(0, Math.round((after[0] - killedAt) / 100) / 10) : null;
    const figures = {
      maxWorkers,
      images: files.length,
      answered,
      handoverSeconds,
      newHolder,
      firstLaunchAfterKillSeconds: firstLaunch,
      instancesLaunchedBeforeKill: launchedBefore,
      instancesLaunched: launchTimes.length,
      peakInstances: peak,
      backToZero: live === 0,
      backToZeroSeconds: live === 0 ? Math.round((Date.now() - answeredAt) / 100) / 10 : null,
    };
    console.log(JSON.stringify(figures, null, 2));
    writeJsonOutput(values.json, figures);
    const ok = firstLaunch !== null && firstLaunch <= 15 && peak <= maxWorkers && answered === files.length && live === 0;
    return ok ? EXIT.done : EXIT.goalFailed;
  } finally {
    ec2Holder.client?.destroy();
    await run.stop(60_000);
    rmSync(runDir, { recursive: true, force: true });
  }
});
