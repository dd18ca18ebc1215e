import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readWorkerRecords } from '@app/fleet';
import { startLocalSystem, type LocalSystem } from '@tools/local-run';
import { median } from '@tools/loadgen';
import { residentMemory } from '@tools/testing/processes';
import { AnswerLedger } from './ledger';
import { ResultTracker } from './result-tracker';
import { ServiceClient } from './service-client';

export interface SoakOptions {
  /** Uploaded over and over (each upload is a new image) until `count` images were sent. */
  files: string[];
  count: number;
  /** Images per second, sent as uploads of `batchSize`. */
  ratePerSecond: number;
  batchSize: number;
  env: Record<string, string>;
  /** RSS is compared between this fraction of the images answered and the end. */
  warmupFraction: number;
  timeoutMs: number;
  log?: (line: string) => void;
}

export interface RssFigure {
  warmupMb: number;
  endMb: number;
  changePct: number;
}

export interface SoakReport {
  images: number;
  accepted: number;
  answered: number;
  lost: number;
  conflicting: number;
  wallSeconds: number;
  ratePerSecond: number;
  /** Each long-lived process's resident memory after warm-up and at the end. */
  rss: Record<string, RssFigure>;
  rssWithin10Percent: boolean;
}


/** Resident set size of a process in MB (from /proc), undefined when it is gone. */
export function rssMb(pid: number): number | undefined {
  const memory = residentMemory(pid);
  return memory && memory.rssBytes / 2 ** 20;
}

/** The long-lived processes of the run, by name: the control apps, the workers, and this process (which serves the embedded S3/SQS). */
function longLived(system: LocalSystem): Map<string, number> {
  const pids = new Map<string, number>([
    ['local-aws (and the soak driver)', process.pid],
  ]);
  for (const [name, app] of Object.entries(system.apps))
    if (app.pid) pids.set(name, app.pid);
  for (const r of readWorkerRecords(system.fleetDir))
    pids.set(`worker ${r.id}`, r.pid);
  return pids;
}

/**
 * The soak run: `count` images through the local stack at a steady rate,
 * every answer accounted for, and each long-lived process's memory compared
 * between warm-up and the end (a leak shows as growth).
 */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => undefined);
  const system = await startLocalSystem({
    webPort: 0,
    awsPort: 0,
    runDir: mkdtempSync(join(tmpdir(), 'soak-')),
    env: {
      LOG_LEVEL: 'info',
      IDLE_SECONDS: '60',
      MAX_WORKERS: String(cpus().length),
      ...o.env,
    },
  });
  try {
    return await soak(system, o, log);
  } finally {
    await system.stop();
  }
}

async function soak(
  system: LocalSystem,
  o: SoakOptions,
  log: (line: string) => void,
): Promise<SoakReport> {
  const client = new ServiceClient(system.webUrl);
  const ledger = new AnswerLedger();
  const tracker = new ResultTracker(client, ledger, system);
  const stop = new AbortController();

  try {
    const deadline = Date.now() + o.timeoutMs;
    const t0 = performance.now();
    const warmup = new Map<string, number[]>();
    const end = new Map<string, number[]>();
    const sample = (into: Map<string, number[]>) => {
      for (const [name, pid] of longLived(system)) {
        const mb = rssMb(pid);
        if (mb !== undefined)
          into.set(name, [...(into.get(name) ?? []), mb].slice(-3));
      }
    };

    // A steady stream of uploads: one of `batchSize` every batchSize / rate seconds.
    const sender = (async () => {
      const every = (o.batchSize / o.ratePerSecond) * 1000;
      for (let sent = 0, i = 0; sent < o.count; i++) {
        const due = t0 + i * every;
        await sleep(Math.max(0, due - performance.now()));
        const files = Array.from(
          { length: Math.min(o.batchSize, o.count - sent) },
          (_, k) => o.files[(sent + k) % o.files.length],
        );
        sent += files.length;
        for (const accepted of await client.uploadAll(files, deadline)) {
          for (const img of accepted.images) ledger.accept(img.imageId, img.fileName, 'batch');
          tracker.watchBatch(accepted.batchId, stop.signal, { events: false });
        }
      }
    })();

    // Three samples once warm, then the last three of the run.
    let warmSamples = 0;
    while (Date.now() < deadline) {
      const answered = ledger.answeredCount;
      if (answered >= o.count * o.warmupFraction) {
        if (warmSamples < 3) {
          sample(warmup);
          warmSamples += 1;
        } else sample(end);
      }
      if (ledger.size >= o.count && answered >= ledger.size) break;
      log(`answered ${answered}/${o.count}`);
      await sleep(2000);
    }
    await sender;
    stop.abort();
    const wallSeconds =
      ((ledger.lastAnswerAt() ?? performance.now()) - t0) / 1000;
    await tracker.verifyEverywhere(deadline);

    const rss: Record<string, RssFigure> = {};
    for (const [name, at] of warmup) {
      const last = end.get(name);
      if (!last?.length) continue; // a process that did not live to the end (a worker that idled out)
      const w = median(at);
      const e = median(last);
      rss[name] = {
        warmupMb: round(w),
        endMb: round(e),
        changePct: round(((e - w) / w) * 100),
      };
    }
    const s = ledger.summary();
    return {
      images: o.count,
      accepted: s.accepted,
      answered: s.answered,
      lost: s.lost,
      conflicting: s.conflicting,
      wallSeconds: round(wallSeconds),
      ratePerSecond: o.ratePerSecond,
      rss,
      rssWithin10Percent: Object.values(rss).every(
        (r) => Math.abs(r.changePct) <= 10,
      ),
    };
  } finally {
    stop.abort();
    tracker.close();
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

