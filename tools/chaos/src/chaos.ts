import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isProcessAlive, readWorkerRecords } from '@app/fleet';
import { percentile } from '@tools/loadgen';
import {
  startLocalSystem,
  type ControlApp,
  type LocalSystem,
} from '@tools/local-run';
import { AnswerLedger } from './ledger';
import { ResultTracker } from './result-tracker';
import { ServiceClient, type ClassicOutcome } from './service-client';

export interface ChaosOptions {
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
  /** When the S3/SQS edge becomes unreachable, and for how long. */
  edgeCutAtMs: number;
  edgeCutMs: number;
  timeoutMs: number;
  runDir?: string;
  log?: (line: string) => void;
}

export interface ChaosReport {
  accepted: number;
  answered: number;
  lost: number;
  conflicting: number;
  /** Classic requests whose connection died with the web tier (answered only if the REST API has their one result). */
  cut: number;
  maxAttempts: number;
  /** From a worker's death to the answers of the images it held. */
  recoverySeconds: { p50: number; p99: number; samples: number };
  wallSeconds: number;
  kills: { workers: number; apps: string[]; edgeCutSeconds: number };
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
    const uploads = (async () => {
      for (let i = 0; i < o.batchImages.length; i += o.batchSize) {
        const accepted = await client.upload(
          o.batchImages.slice(i, i + o.batchSize),
          deadline,
        );
        for (const img of accepted.images)
          ledger.accept(img.imageId, img.fileName, 'batch');
        tracker.watchBatch(accepted.batchId, stopWatching.signal);
      }
    })();
    const pending = () =>
      classic.size < o.classicImages.length ||
      ledger.answeredCount < ledger.size;

    // Chaos, on a schedule.
    const workerKills: WorkerKill[] = [];
    const appKills: string[] = [];
    let edgeCutSeconds = 0;
    const chaos = (async () => {
      let nextWorkerKill = o.workerKillEveryMs;
      const appsLeft = new Map(
        Object.entries(o.appKillsAtMs) as [ControlApp, number][],
      );
      let edgeCut: Promise<void> | undefined;
      while (pending() && Date.now() < deadline) {
        const t = performance.now() - t0;
        if (t >= nextWorkerKill && workerKills.length < o.maxWorkerKills) {
          nextWorkerKill += o.workerKillEveryMs;
          const live = readWorkerRecords(system.fleetDir).filter(
            (r) => isProcessAlive(r.pid) && pastStartUp(system.fleetDir, r.id),
          );
          const victim = live[Math.floor(Math.random() * live.length)];
          if (victim && kill(victim.pid)) {
            const k: WorkerKill = {
              workerId: victim.id,
              at: performance.now(),
              held: [],
            };
            workerKills.push(k);
            void tracker.heldBy(victim.id).then((held) => (k.held = held));
            log(`killed worker ${victim.id} (pid ${victim.pid})`);
          }
        }
        for (const [app, at] of appsLeft) {
          const pid = system.apps[app].pid;
          if (t >= at && pid && kill(pid)) {
            appsLeft.delete(app);
            appKills.push(app);
            log(`killed ${app} (pid ${pid})`);
          }
        }
        if (!edgeCut && t >= o.edgeCutAtMs && o.edgeCutMs > 0 && system.edge) {
          log(`S3/SQS edge unreachable for ${o.edgeCutMs} ms`);
          const edge = system.edge;
          edge.cut();
          edgeCut = sleep(o.edgeCutMs).then(() => {
            edge.restore();
            edgeCutSeconds = o.edgeCutMs / 1000;
            log('S3/SQS edge reachable again');
          });
        }
        await sleep(100);
      }
      await edgeCut;
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

    // Classic images join the account by their result in the bucket (the request never learns its id).
    const classicCounts = { answered: 0, cut: 0, refused: 0 };
    const classicNames = new Map<string, ClassicOutcome>(classic);
    await tracker.settleClassic(classicNames, t0, deadline, classicCounts);

    // Every channel's answer for every image, after the dust settles.
    await tracker.verifyEverywhere(deadline);

    const recovery = recoverySamples(workerKills, system.fleetDir, ledger);
    const summary = ledger.summary();
    return {
      accepted: summary.accepted,
      answered: summary.answered,
      lost: summary.lost,
      conflicting: summary.conflicting,
      cut: classicCounts.cut,
      maxAttempts: summary.maxAttempts,
      recoverySeconds: {
        p50: tenths(percentile(recovery, 50)),
        p99: tenths(percentile(recovery, 99)),
        samples: recovery.length,
      },
      wallSeconds: tenths(wallSeconds),
      kills: { workers: workerKills.length, apps: appKills, edgeCutSeconds },
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
 * log names) that another worker or the monitor's give-up answered later:
 * seconds from the kill to that answer.
 */
function recoverySamples(
  kills: WorkerKill[],
  fleetDir: string,
  ledger: AnswerLedger,
): number[] {
  const samples: number[] = [];
  for (const k of kills) {
    const logFile = join(fleetDir, `${k.workerId}.log`);
    const logged = existsSync(logFile)
      ? (readFileSync(logFile, 'utf8').match(
          /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g,
        ) ?? [])
      : [];
    for (const id of new Set([...k.held, ...logged])) {
      const at = ledger.answeredAt(id);
      const answer = ledger.answerOf(id);
      if (
        at === undefined ||
        !answer ||
        answer.producedBy === k.workerId ||
        at < k.at
      )
        continue;
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

/** A worker that has said it is ready: killing one still loading its model would test nothing. */
function pastStartUp(fleetDir: string, workerId: string): boolean {
  try {
    return readFileSync(join(fleetDir, `${workerId}.log`), 'utf8').includes(
      'classifier-worker ready',
    );
  } catch {
    return false;
  }
}


function kill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
