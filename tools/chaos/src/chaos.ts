import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { percentile } from '@tools/loadgen';
import {
  startLocalSystem,
  type ControlApp,
  type LocalSystem,
  type TargetStats,
} from '@tools/local-run';
import { watchHandover, type LeaseKill } from './lease-handover';
import { AnswerLedger, type LedgerSummary } from './ledger';
import { ResultTracker } from './result-tracker';
import { ServiceClient, type ClassicOutcome } from './service-client';
import { faultWindows, heldSecondsOf, type FaultSchedule } from './system-faults';
import { copiesOf, leaseholder, liveWorkers, pickOne, sigkill } from './victims';

/** The run's shape; its timed failures (edge cut, S3 brownout, EC2 throttle; 0 ms: never) are the FaultSchedule. */
export interface ChaosOptions extends FaultSchedule {
  /** Uploaded through POST /api/images in uploads of `batchSize`. */
  batchImages: string[];
  /** Each sent as its own classic POST / (field `myfile`), all at once. */
  classicImages: string[];
  batchSize: number;
  maxWorkers: number;
  /** Variables for every app (MODEL_DIR, IDLE_SECONDS, ...). */
  env: Record<string, string>;
  /** A random worker (one past its start-up) is SIGKILLed this often while work remains... */
  workerKillEveryMs: number;
  /** ...this many times at most. */
  maxWorkerKills: number;
  /** When (ms after the load starts) each control app is SIGKILLed once; the supervisor restarts it. */
  appKillsAtMs: Partial<Record<ControlApp, number>>;
  /** Web tiers behind the local load balancer (undefined: one tier, no balancer). */
  webTiers?: number;
  /** Launch and monitor controllers, this many of each (default 1). */
  controlPlanes?: number;
  /** `ec2`: workers run on the EC2 stand-in's instances (worker processes are killed, not instances). */
  fleet?: 'local' | 'ec2';
  timeoutMs: number;
  runDir?: string;
  log?: (line: string) => void;
}

/** What a chaos run reports: the answer ledger's counts of images (LedgerSummary says what each means), and the run's own figures. */
export interface ChaosReport extends Pick<LedgerSummary, 'accepted' | 'answered' | 'lost' | 'duplicates' | 'conflicting' | 'errorResults' | 'maxAttempts'> {
  /** Images the client meant to classify (an upload sent again with its Idempotency-Key counts once). */
  sent: number;
  /** Uploads sent again with their Idempotency-Key after a cut connection or a transient answer, or for files a partial answer failed. */
  uploadRetries: number;
  /** Classic requests sent again with their Idempotency-Key (a cut connection, the balancer's 502, 503, 429, 409). */
  classicRetries: number;
  /** Classic requests whose connection died with the web tier (answered only if the REST API has their one result). */
  cut: number;
  /** From a worker's death to the answers of the images it held. */
  recoverySeconds: { p50: number; p99: number; samples: number };
  wallSeconds: number;
  kills: { workers: number; apps: string[]; edgeCutSeconds: number; s3BrownoutSeconds: number; ec2ThrottleSeconds: number };
  /** Requests the load balancer sent to each web tier, and how many of them failed (with a balancer). */
  tiers?: TargetStats[];
  /** The launch leaseholder's kill, when there was one: who held it, and how soon a controller held it again. */
  lease?: { killed: string; handoverSeconds: number | null; newHolder: string | null; firstLaunchAfterKillSeconds: number | null };
  /** Most instances pending or running at once, as the EC2 stand-in counts them (`fleet: 'ec2'`). */
  peakInstances?: number;
  maxWorkers: number;
  restarts: Record<string, number>;
  /** Classic requests: how each ended, and the latency of those answered in their own response. */
  classic: {
    answered: number;
    cut: number;
    refused: number;
    latencySeconds: { p50: number; p95: number };
  };
  conflicts: { imageId: string; fileName: string; answers: string[] }[];
  lostImages: { imageId: string; fileName: string }[];
}

interface WorkerKill {
  workerId: string;
  at: number;
  /** The same moment by the wall clock, which the worker's log lines carry. */
  atWall: number;
  /** What its last heartbeat said it held. */
  held: string[];
}

/** Figures are reported to a tenth of a second. */
const tenths = (x: number) => Math.round(x * 10) / 10;

/**
 * The chaos run: the local stack under load while workers, both controllers,
 * the web tier and the S3/SQS edge fail, then an account of every image the
 * service accepted — answered once, the same everywhere, or lost.
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const runDir = o.runDir ?? mkdtempSync(join(tmpdir(), 'chaos-'));
  const restarts: Record<string, number> = {};
  const system = await startLocalSystem({
    webPort: 0,
    awsPort: 0,
    runDir,
    edgeProxy: true,
    webTiers: o.webTiers,
    controlPlanes: o.controlPlanes,
    fleet: o.fleet,
    ec2BootSeconds: o.fleet === 'ec2' ? 1 : undefined,
    onSupervisorEvent: (e) => {
      if (e.kind === 'restarted') restarts[e.app] = e.restarts;
      log(`supervisor: ${e.app} ${e.kind}`);
    },
    env: {
      LOG_LEVEL: 'info',
      IDLE_SECONDS: '10',
      ...o.env,
      MAX_WORKERS: String(o.maxWorkers),
    },
  });
  try {
    return await underChaos(system, o, log, restarts);
  } finally {
    await system.stop();
  }
}

async function underChaos(
  system: LocalSystem,
  o: ChaosOptions,
  log: (line: string) => void,
  restarts: Record<string, number>,
): Promise<ChaosReport> {
  const client = new ServiceClient(system.webUrl);
  const ledger = new AnswerLedger();
  const t0 = performance.now();
  const deadline = Date.now() + o.timeoutMs;
  const tracker = new ResultTracker(client, ledger, system);
  const stopWatching = new AbortController();

  try {
    // Load: every classic request at once, and the batch uploads beside them.
    const classic = new Map<string, ClassicOutcome>();
    const classicDone = Promise.all(
      o.classicImages.map(async (f) => {
        classic.set(basename(f), await client.classic(f, o.timeoutMs));
      }),
    );
    let uploading = true;
    const uploads = (async () => {
      for (let i = 0; i < o.batchImages.length; i += o.batchSize) {
        for (const accepted of await client.uploadAll(o.batchImages.slice(i, i + o.batchSize), deadline)) {
          for (const img of accepted.images) ledger.accept(img.imageId, img.fileName, 'batch');
          tracker.watchBatch(accepted.batchId, stopWatching.signal);
        }
      }
    })().finally(() => (uploading = false));
    // Uploads still being sent (retried through a brownout, say) are pending too: the failures go on until they are in.
    const pending = () =>
      uploading ||
      classic.size < o.classicImages.length ||
      ledger.answeredCount < ledger.size;

    // Chaos, on a schedule.
    const workerKills: WorkerKill[] = [];
    const killedPids = new Set<number>();
    const appKills: string[] = [];
    const windows = faultWindows(system, o, log);
    let leaseKill: LeaseKill | undefined;
    let peakInstances = 0;
    const chaos = (async () => {
      let nextWorkerKill = o.workerKillEveryMs;
      const appsLeft = new Map(
        Object.entries(o.appKillsAtMs) as [ControlApp, number][],
      );
      while (pending() && Date.now() < deadline) {
        const t = performance.now() - t0;
        windows.tick(t);
        if (system.ec2) peakInstances = Math.max(peakInstances, system.ec2.instances().filter((i) => i.state === 'pending' || i.state === 'running').length);
        if (t >= nextWorkerKill && workerKills.length < o.maxWorkerKills) {
          nextWorkerKill += o.workerKillEveryMs;
          // A process already killed may linger a moment unreaped: it is not a new victim.
          const victim = pickOne(liveWorkers(system).filter((w) => !killedPids.has(w.pid)));
          if (victim && sigkill(victim.pid)) {
            killedPids.add(victim.pid);
            const k: WorkerKill = {
              workerId: victim.id,
              at: performance.now(),
              atWall: Date.now(),
              held: [],
            };
            workerKills.push(k);
            void tracker.heldBy(victim.id).then((held) => (k.held = held));
            log(`killed worker ${victim.id} (pid ${victim.pid})`);
          }
        }
        for (const [app, at] of appsLeft) {
          if (t < at) continue;
          // The launch controller killed is the one holding the lease; of the others, any copy.
          const victim = app === 'launch-controller' ? await leaseholder(system.launchControllers) : pickOne(copiesOf(system, app));
          const pid = victim?.app.pid;
          if (victim && pid && sigkill(pid)) {
            appsLeft.delete(app);
            appKills.push(victim.app.label);
            log(`killed ${victim.app.label} (pid ${pid})${app === 'launch-controller' ? ', the launch leaseholder' : ''}`);
            if (app === 'launch-controller') leaseKill = watchHandover(system, victim, log, Math.max(0, deadline - Date.now()));
          }
        }
        await sleep(100);
      }
      windows.endAll(performance.now() - t0);
    })();

    await uploads;
    const progress = setInterval(
      () =>
        log(
          `answered ${ledger.answeredCount}/${ledger.size} batch images, ${[...classic.values()].length}/${o.classicImages.length} classic settled`,
        ),
      5000,
    );
    try {
      while (pending() && Date.now() < deadline) await sleep(250);
    } finally {
      clearInterval(progress);
    }
    await chaos;
    await classicDone;
    stopWatching.abort();
    const wallSeconds =
      ((ledger.lastAnswerAt() ?? performance.now()) - t0) / 1000;

    // Classic images join the account by the image id each response named (by file name when none did).
    const classicCounts = { answered: 0, cut: 0, refused: 0 };
    const classicNames = new Map<string, ClassicOutcome>(classic);
    await tracker.settleClassic(classicNames, t0, deadline, classicCounts);

    // Every channel's answer for every image, after the dust settles.
    await tracker.verifyEverywhere(deadline);

    const recovery = recoverySamples(workerKills, system.fleetDir, ledger, o.fleet === 'ec2');
    const summary = ledger.summary();
    return {
      sent: o.batchImages.length + o.classicImages.length,
      accepted: summary.accepted,
      answered: summary.answered,
      lost: summary.lost,
      duplicates: summary.duplicates,
      conflicting: summary.conflicting,
      errorResults: summary.errorResults,
      uploadRetries: client.uploadRetries,
      classicRetries: client.classicRetries,
      cut: classicCounts.cut,
      maxAttempts: summary.maxAttempts,
      recoverySeconds: {
        p50: tenths(percentile(recovery, 50)),
        p99: tenths(percentile(recovery, 99)),
        samples: recovery.length,
      },
      wallSeconds: tenths(wallSeconds),
      kills: { workers: workerKills.length, apps: appKills, ...heldSecondsOf(windows) },
      tiers: system.loadBalancer?.stats(),
      lease: leaseKill && (await leaseKill.report()),
      peakInstances: system.ec2 ? peakInstances : undefined,
      maxWorkers: o.maxWorkers,
      restarts,
      classic: { ...classicCounts, latencySeconds: classicLatency(classic) },
      conflicts: summary.conflicts,
      lostImages: summary.lostImages,
    };
  } finally {
    stopWatching.abort();
    tracker.close();
  }
}

/**
 * For each killed worker, the images it held (its last heartbeat, and any its
 * log named before the kill) that were answered after it (on EC2 possibly by the restarted process):
 * seconds from the kill to that answer.
 */
function recoverySamples(
  kills: WorkerKill[],
  fleetDir: string,
  ledger: AnswerLedger,
  /** EC2: the killed process's unit restarts it on the same instance, under the same worker id. */
  restartsUnderSameId: boolean,
): number[] {
  const samples: number[] = [];
  for (const k of kills) {
    const logFile = join(fleetDir, `${k.workerId}.log`);
    // Only what the killed process logged: on EC2 the restarted one writes to the same file.
    const linesBefore = existsSync(logFile)
      ? readFileSync(logFile, 'utf8').split('\n').filter((line) => {
          const time = /"time":(\d+)/.exec(line)?.[1];
          return time === undefined || Number(time) <= k.atWall;
        })
      : [];
    const logged = linesBefore.join('\n').match(/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g) ?? [];
    for (const id of new Set([...k.held, ...logged])) {
      const at = ledger.answeredAt(id);
      const answer = ledger.answerOf(id);
      if (at === undefined || !answer || at < k.at) continue;
      // Locally a killed worker's id never answers again: an answer under it was written before the kill.
      if (!restartsUnderSameId && answer.producedBy === k.workerId) continue;
      samples.push((at - k.at) / 1000);
    }
  }
  return samples;
}

function classicLatency(outcomes: Map<string, ClassicOutcome>): {
  p50: number;
  p95: number;
} {
  const answered = [...outcomes.values()]
    .filter((o) => o.kind === 'answered')
    .map((o) => o.ms / 1000);
  return { p50: tenths(percentile(answered, 50)), p95: tenths(percentile(answered, 95)) };
}
