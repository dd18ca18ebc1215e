/**
 * `npx tsx --tsconfig tsconfig.base.json tools/bench/src/spot-interruptions.ts [--interrupt-seconds 30] [--time-scale 12] [--interruptions 4] [--max-workers 2] [--json OUT]`
 *
 * Spot workers interrupted mid-batch, through the whole local system: `npm start`
 * with LOCAL_FLEET=ec2 WORKER_CAPACITY=spot EC2_SPOT_INTERRUPT_SECONDS EC2_TIME_SCALE
 * (the EC2 stand-in serves each Spot instance's interruption notice on its metadata
 * service that many seconds after it runs, and ends the instance two scaled minutes
 * later), under a steady classic load: `--concurrency` requests always outstanding, so
 * that a worker always holds images. The load stops once `--interruptions` instances
 * have had their notice and every instance still running has its notice far enough
 * ahead (see `StopPlan`) to finish the load and leave on idle before it: so that every
 * worker that sees a notice sees it mid-batch. Prints:
 * - each instance's InstanceLifecycle as DescribeInstances shows it (spot);
 * - for each worker that saw a notice: the images it held and handed back, and how
 *   long after its notice (served by the stand-in) the last of them was answered (goal:
 *   within 10 s), with the timeline in between: notice seen, images handed back, worker
 *   gone, and for each worker that answered them when it was launched and began polling;
 * - every request answered once (each under its own name).
 * Too slow for the test suite (instances boot, load the model and are interrupted on
 * a real clock); the hand-back itself is unit-tested in the worker and the monitor.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EXIT, existingPath, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { runLoad } from '@tools/loadgen';
import { spawnNpmStart, waitForNpmStart, type NpmStartRun } from '@tools/local-run';
import { MODEL_DIR, SMALL_IMAGES_DIR, until, WORKSPACE_ROOT } from '@tools/testing';
import { describeAllInstances } from '@tools/ec2-standin';
import { StopPlan } from './lib/spot-stop-plan';

const values = parseCommandLine({
  name: 'npx tsx --tsconfig tsconfig.base.json tools/bench/src/spot-interruptions.ts',
  summary:
    'Spot workers interrupted mid-batch under a steady classic load (LOCAL_FLEET=ec2 WORKER_CAPACITY=spot npm start): lifecycle, hand-backs, time from each notice to the last handed-back image answered, answers per request.',
  flags: {
    // Longer than a worker's cold start on a busy machine (6-13 s at a load of 20 on 2 cores), so that each
    // worker is interrupted while it works, not while it still loads the model; and long enough that a moment
    // comes when every running worker has its notice far ahead (StopPlan).
    'interrupt-seconds': { type: 'string', description: 'EC2_SPOT_INTERRUPT_SECONDS: a Spot instance is interrupted this long after it runs', default: '30', number: { min: 0 } },
    interruptions: { type: 'string', description: 'the load lasts until at least this many instances have had their notice', default: '4', number: { integer: true, min: 1 } },
    // The workers hold WORKER_PREFETCH (20) each; a small backlog beyond keeps them busy, and handed-back
    // images queue behind it.
    concurrency: { type: 'string', description: 'classic requests kept outstanding (default: 20 more than the workers hold, 20 each)', number: { integer: true, min: 1 } },
    'time-scale': { type: 'string', description: "EC2_TIME_SCALE: EC2's two-minute notice runs this many times faster", default: '12', number: { min: 0.001 } },
    images: { type: 'string', value: 'DIR', description: 'the images sent, one request each, over and over', default: SMALL_IMAGES_DIR },
    model: { type: 'string', value: 'DIR', description: 'MODEL_DIR of the workers ("default": the default model)', default: MODEL_DIR },
    'max-workers': { type: 'string', description: 'MAX_WORKERS', default: '2', number: { integer: true, min: 1 } },
    'max-load-seconds': { type: 'string', description: 'the load stops after this long even if the stop plan has not come true', default: '300', number: { min: 1 } },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
  epilog:
    'Exit 1 when a request was not answered or answered twice, fewer instances than --interruptions had a notice, one had it holding no images, or an interrupted worker held images answered more than 10 s after its notice.',
});

interface LogLine {
  time: number;
  msg: string;
  imageId?: string;
  handedBack?: number;
  terminateAt?: string;
}

/** What the stop plan allows for the requests outstanding when the load stops to be answered. */
const DRAIN_SECONDS = 10;

/** EC2's two minutes of warning, as the stand-in scales them. */
const NOTICE_MS = 120_000;

/** Seconds from `from` to `to` (epoch ms), one decimal; undefined when either is unknown. */
const secondsBetween = (from: number | undefined, to: number | undefined) =>
  from === undefined || to === undefined ? undefined : Math.round((to - from) / 100) / 10;

/** Each instance worker's log lines (JSON), by instance id. */
function workerLogs(fleetDir: string): Map<string, LogLine[]> {
  const out = new Map<string, LogLine[]>();
  for (const f of readdirSync(fleetDir).filter((n) => /^i-.*\.log$/.test(n))) {
    const lines = readFileSync(join(fleetDir, f), 'utf8')
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return [];
        }
      });
    out.set(f.replace(/\.log$/, ''), lines);
  }
  return out;
}

interface ImageResult {
  imageId: string;
  status: string;
  producedBy?: string;
  completedAt?: string;
}

runMain('spot-interruptions', async () => {
  const imagesDir = existingPath('images', values.images);
  const runDir = mkdtempSync(join(tmpdir(), 'spot-interruptions-'));
  // Kept when a goal is missed: the instances' and apps' logs say why.
  let keepLogs = false;
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '',
    LOCAL_FLEET: 'ec2',
    WORKER_CAPACITY: 'spot',
    EC2_SPOT_INTERRUPT_SECONDS: values['interrupt-seconds'],
    EC2_TIME_SCALE: values['time-scale'],
    EC2_BOOT_SECONDS: '1',
    MAX_WORKERS: values['max-workers'],
    IDLE_SECONDS: '5',
    PORT: '0',
    LOCAL_AWS_PORT: '0',
    LOCAL_RUN_DIR: runDir,
    LOCAL_RUN_SKIP_BUILD: process.env['LOCAL_RUN_SKIP_BUILD'] ?? 'false',
    ...(values.model === 'default' ? {} : { MODEL_DIR: existingPath('model', values.model) }),
  };
  const run: NpmStartRun = spawnNpmStart(['npm', 'start'], { cwd: WORKSPACE_ROOT, env });
  try {
    const webUrl = await waitForNpmStart(run, 600_000);
    const endpoint = /EC2 stand-in\s+(http:\/\/\S+)/.exec(run.output())?.[1] as string;
    const ec2 = new EC2Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'watcher', secretAccessKey: 'watcher' } });

    const started = Date.now();
    const plan = new StopPlan({
      interruptSeconds: Number(env['EC2_SPOT_INTERRUPT_SECONDS']),
      bootSeconds: Number(env['EC2_BOOT_SECONDS']),
      idleSeconds: Number(env['IDLE_SECONDS']),
      drainSeconds: DRAIN_SECONDS,
      interruptions: Number(values.interruptions),
    });
    const stopLoad = new AbortController();
    const concurrency = values.concurrency ? Number(values.concurrency) : (Number(values['max-workers']) + 1) * 20;
    const load = runLoad({ url: webUrl, imagesDir, concurrency, mode: 'classic', scaleInTimeoutMs: 0, progress: false, requestTimeoutMs: 600_000, sendUntil: stopLoad.signal });
    const planned = async () => (await describeAllInstances(ec2)).map((i) => ({ launchedAt: i.LaunchTime?.getTime() ?? Date.now(), live: i.State?.Name === 'pending' || i.State?.Name === 'running' }));
    await until('the stop plan to come true', async () => plan.mayStop(await planned(), Date.now()), Number(values['max-load-seconds']) * 1000, 250).catch((err: Error) =>
      console.log(`stopping the load anyway: ${err.message}`),
    );
    const loadStoppedAt = Date.now();
    stopLoad.abort();
    const { report, results } = await load;
    // Every instance ended (interrupted, or idle after the load), so that every log is complete.
    await until('every instance terminated', async () => (await describeAllInstances(ec2)).every((i) => i.State?.Name === 'terminated'), 300_000, 250);
    const instances = await describeAllInstances(ec2);
    const logs = workerLogs(join(runDir, 'fleet'));

    const result = async (imageId: string): Promise<ImageResult> => (await (await fetch(`${webUrl}/api/images/${imageId}`)).json()) as ImageResult;
    const timeScale = Number(env['EC2_TIME_SCALE']);
    const polling = (id: string | undefined) => (logs.get(id ?? '') ?? []).find((l) => l.msg === 'polling the launch queue')?.time;
    const workers = [];
    for (const i of instances) {
      const lines = logs.get(i.InstanceId ?? '') ?? [];
      const notice = lines.find((l) => l.msg === 'Spot interruption notice');
      // When the stand-in began to serve the notice: two scaled minutes before the termination it names
      // (the worker sees it at its next metadata poll).
      const servedAt = notice?.terminateAt ? Date.parse(notice.terminateAt) - NOTICE_MS / timeScale : notice?.time;
      const handedBackIds = notice ? lines.filter((l) => l.time >= notice.time && l.msg === 'image handed back after a passing failure' && l.imageId).map((l) => l.imageId as string) : [];
      const answers = await Promise.all(handedBackIds.map(result));
      const answeredAt = answers.map((a) => (a.completedAt ? Date.parse(a.completedAt) : Infinity));
      const answeredBy = [...new Set(answers.map((a) => a.producedBy))];
      workers.push({
        instanceId: i.InstanceId,
        instanceLifecycle: i.InstanceLifecycle ?? 'on-demand',
        stateReason: i.StateReason?.Code,
        imagesClassified: lines.filter((l) => l.msg === 'image classified').length,
        noticeSeenAt: notice ? new Date(notice.time).toISOString() : undefined,
        handedBack: handedBackIds.length,
        handedBackAnsweredBy: answeredBy,
        lastHandedBackAnsweredSecondsAfterNotice: answeredAt.length ? secondsBetween(servedAt, Math.max(...answeredAt)) : undefined,
        // Where the time from the notice to the last answer goes, each in seconds after the notice was served.
        timeline: notice && {
          seen: secondsBetween(servedAt, notice.time),
          handedBack: secondsBetween(servedAt, lines.find((l) => l.msg === 'every image held handed back')?.time),
          exited: secondsBetween(servedAt, lines.at(-1)?.time),
          answeredBy: answeredBy.map((id) => {
            const by = instances.find((x) => x.InstanceId === id);
            return { instanceId: id, launched: secondsBetween(servedAt, by?.LaunchTime?.getTime()), polling: secondsBetween(servedAt, polling(id)) };
          }),
          firstAnswer: answeredAt.length ? secondsBetween(servedAt, Math.min(...answeredAt)) : undefined,
        },
      });
    }
    const interrupted = workers.filter((w) => w.noticeSeenAt);
    const figures = {
      images: report.requests,
      answered: report.succeeded,
      failed: report.failed,
      // Each request goes under its own name (`<pass>-<file>`): one answered twice, or an answer to another's, shows here.
      distinctImagesAnswered: new Set(results.filter((r) => r.ok).map((r) => r.name)).size,
      wallSeconds: Math.round((Date.now() - started) / 100) / 10,
      loadSeconds: Math.round((loadStoppedAt - started) / 100) / 10,
      instances: workers.length,
      spotInstances: workers.filter((w) => w.instanceLifecycle === 'spot').length,
      interrupted: interrupted.length,
      interruptedMidBatch: interrupted.filter((w) => w.handedBack > 0).length,
      worstSecondsFromNoticeToLastHandedBackAnswer: Math.max(0, ...interrupted.map((w) => w.lastHandedBackAnsweredSecondsAfterNotice ?? 0)),
      settings: { EC2_SPOT_INTERRUPT_SECONDS: env['EC2_SPOT_INTERRUPT_SECONDS'], EC2_TIME_SCALE: env['EC2_TIME_SCALE'], MAX_WORKERS: env['MAX_WORKERS'], model: values.model, concurrency, interruptions: Number(values.interruptions) },
      workers,
    };
    console.log(JSON.stringify(figures, null, 2));
    writeJsonOutput(values.json, figures);
    console.log(
      `${figures.answered}/${figures.images} answered (${figures.distinctImagesAnswered} distinct, ${figures.failed} failed); ` +
        `${figures.spotInstances}/${figures.instances} instances spot; ${figures.interrupted} interrupted, ${figures.interruptedMidBatch} of them holding images; ` +
        `last handed-back image answered at most ${figures.worstSecondsFromNoticeToLastHandedBackAnswer} s after its worker's notice (goal ≤ 10 s)`,
    );
    const ok =
      figures.answered === figures.images &&
      figures.distinctImagesAnswered === figures.images &&
      figures.interrupted >= Number(values.interruptions) &&
      figures.interruptedMidBatch === figures.interrupted &&
      figures.worstSecondsFromNoticeToLastHandedBackAnswer <= 10;
    if (!ok) {
      keepLogs = true;
      console.log(`logs kept in ${runDir} (fleet/i-*.log, logs/*.log)`);
    }
    return ok ? EXIT.done : EXIT.goalFailed;
  } finally {
    await run.stop(60_000);
    if (!keepLogs) rmSync(runDir, { recursive: true, force: true });
  }
});
