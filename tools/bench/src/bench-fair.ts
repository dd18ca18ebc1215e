/**
 * `npm run bench:fair -- [--json OUT] [--backlog 500] [--requests 20] [--images DIR] [--trace]`
 *
 * Fair share between tenants, side by side in one run of the whole local
 * system (the built apps, the local fleet, the embedded S3/SQS edge with its
 * fair message groups), two tenants by API key:
 * - warm-up: tenant B's classic requests bring the workers up (not measured);
 * - solo: tenant B sends N classic requests at once (one `POST /` per image,
 *   held until the label comes back), nothing else queued;
 * - shared: tenant A queues a backlog (`POST /api/images`, 100 files a
 *   request), and once it is accepted tenant B sends the same N requests.
 * Prints B's p95 latency alone and behind A's backlog, and their ratio (goal:
 * shared ≤ 2 × solo), and how long A's backlog took to be answered.
 * `--trace` adds where B's requests waited, stage by stage, per phase
 * (lib/fair-trace.ts), and the launch and results queues' depth meanwhile.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, existingPath, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { listImages, percentile } from '@tools/loadgen';
import { buildApps, liveWorkerPids, startLocalSystem } from '@tools/local-run';
import { MODEL_DIR, SMALL_IMAGES_DIR } from '@tools/testing/files';
import { formatTrace, readClassified, sampleQueues, summarise, traceRequests, type QueueDepths, type SentRequest } from './lib/fair-trace';

const KEYS = { A: 'bench-fair-tenant-a-0123456789abcdef0123', B: 'bench-fair-tenant-b-0123456789abcdef0123' } as const;
/** The web tier's MAX_FILES default: the backlog goes up in uploads of this many. */
const FILES_PER_UPLOAD = 100;

const values = parseCommandLine({
  name: 'npm run bench:fair --',
  summary:
    "Tenant B's classic p95 alone and behind tenant A's backlog, side by side in one run of the local system (the edge's fair message groups).",
  flags: {
    backlog: { type: 'string', value: 'N', description: "images tenant A queues before B's requests", default: '500', number: { integer: true, min: 1 } },
    requests: { type: 'string', value: 'N', description: 'classic requests tenant B sends at once, each phase', default: '20', number: { integer: true, min: 1 } },
    images: { type: 'string', value: 'DIR', description: 'images to send (cycled for the backlog)', default: SMALL_IMAGES_DIR },
    'max-workers': { type: 'string', description: 'MAX_WORKERS (locally also bounded by the cores)', default: '2', number: { integer: true, min: 1 } },
    'worker-nice': { type: 'string', value: 'N', description: "WORKER_NICE: the workers' scheduling priority, 0 to 19 (default: the local fleet's own)", number: { integer: true, min: 0, max: 19 } },
    'worker-prefetch': { type: 'string', value: 'N', description: "WORKER_PREFETCH: images a worker holds at once (default: the worker's own)", number: { integer: true, min: 1 } },
    unfair: { type: 'boolean', description: "the edge serves strictly oldest first (no fair message groups): what fair queues change" },
    'skip-backlog-wait': { type: 'boolean', description: "do not wait for tenant A's backlog to be answered (no backlogAnsweredSeconds)" },
    'skip-build': { type: 'boolean', description: 'use the apps already built in dist/ (default: build them, cached by Nx)' },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
    trace: { type: 'boolean', description: "print where tenant B's requests waited, stage by stage (from the workers' logs), and keep the logs" },
  },
  epilog: 'MODEL_DIR (default: the small test model) is the workers\' model. Exit 1 when a request failed.',
});

interface Image {
  name: string;
  bytes: Buffer;
}

interface Phase {
  latenciesMs: number[];
  failed: string[];
  /** Each request's file name and its send and answer times (epoch ms), for --trace. */
  sent: SentRequest[];
}

function read(paths: string[]): Image[] {
  return paths.map((p) => ({ name: basename(p), bytes: readFileSync(p) }));
}

/**
 * N classic requests at once (tenant B): each `POST /` is held until its label comes back.
 * File names carry the phase and the request's number, so that the workers' logs tell them apart.
 */
async function classic(url: string, images: Image[], phaseName: string): Promise<Phase> {
  const phase: Phase = { latenciesMs: [], failed: [], sent: [] };
  await Promise.all(
    images.map(async (img, i) => {
      const fileName = `b-${phaseName}-${String(i).padStart(3, '0')}-${img.name}`;
      const form = new FormData();
      form.append('myfile', new Blob([new Uint8Array(img.bytes)]), fileName);
      const sent: SentRequest = { fileName, sentAt: Date.now() };
      phase.sent.push(sent);
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/`, { method: 'POST', headers: { 'x-api-key': KEYS.B }, body: form, signal: AbortSignal.timeout(600_000) });
        const text = await res.text();
        if (!res.ok || !text.includes(':')) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        sent.answeredAt = Date.now();
        phase.latenciesMs.push(performance.now() - t0);
      } catch (err) {
        phase.failed.push(`${img.name}: ${(err as Error).message}`);
      }
    }),
  );
  return phase;
}

/** Tenant A's backlog: uploads of 100 files, one after another; returns the batch ids once all are accepted. */
async function queueBacklog(url: string, images: Image[]): Promise<string[]> {
  const batches: string[] = [];
  for (let i = 0; i < images.length; i += FILES_PER_UPLOAD) {
    const form = new FormData();
    for (const img of images.slice(i, i + FILES_PER_UPLOAD)) form.append('images', new Blob([new Uint8Array(img.bytes)]), img.name);
    const res = await fetch(`${url}/api/images`, { method: 'POST', headers: { 'x-api-key': KEYS.A }, body: form });
    const body = await res.text();
    if (res.status !== 202) throw new Error(`tenant A's upload refused: HTTP ${res.status}: ${body.slice(0, 300)}`);
    batches.push((JSON.parse(body) as { batchId: string }).batchId);
  }
  return batches;
}

/** Launch messages waiting (not yet taken by a worker), from /api/status. */
async function launchBacklog(url: string): Promise<number | null> {
  const res = await fetch(`${url}/api/status`, { headers: { 'x-api-key': KEYS.A } });
  if (!res.ok) return null;
  const s = (await res.json()) as { queues?: { launch?: { visible: number } } };
  return s.queues?.launch?.visible ?? null;
}

/** Waits until every batch of tenant A is finished; returns when that was. */
async function backlogAnswered(url: string, batches: string[], timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  const open = new Set(batches);
  while (open.size > 0) {
    if (Date.now() > until) throw new Error(`tenant A's backlog not answered within ${timeoutMs / 1000} s`);
    for (const id of [...open]) {
      const res = await fetch(`${url}/api/batches/${id}`, { headers: { 'x-api-key': KEYS.A } });
      if (res.ok && ((await res.json()) as { finished: boolean }).finished) open.delete(id);
    }
    if (open.size > 0) await sleep(250);
  }
  return performance.now();
}

const ms = (n: number) => Math.round(n);

/** Tenant B's requests stage by stage, per phase (--trace). */
function traceOf(runDir: string, phases: Record<string, Phase>) {
  const classified = readClassified(runDir);
  return Object.fromEntries(Object.entries(phases).map(([name, p]) => [name, summarise(traceRequests(p.sent, classified, 'tenant-b'))]));
}

runMain('bench:fair', async () => {
  const all = listImages(existingPath('images', values.images));
  const requests = Number(values.requests);
  const backlog = Number(values.backlog);
  const maxWorkers = Number(values['max-workers']);
  const bImages = read(Array.from({ length: requests }, (_, i) => all[i % all.length]));
  const aImages = read(Array.from({ length: backlog }, (_, i) => all[i % all.length]));

  if (!values['skip-build']) buildApps();
  const runDir = mkdtempSync(join(tmpdir(), 'bench-fair-'));
  const system = await startLocalSystem({
    webPort: 0,
    awsPort: 0,
    runDir,
    // A loaded machine may take minutes to boot the apps.
    readyTimeoutMs: 300_000,
    fairGroups: !values.unfair,
    env: {
      MODEL_DIR: process.env['MODEL_DIR'] ?? MODEL_DIR,
      API_KEYS: `tenant-a=${KEYS.A},tenant-b=${KEYS.B}`,
      MAX_WORKERS: String(maxWorkers),
      // Workers stay up between the phases: both measure warm workers.
      IDLE_SECONDS: '600',
      LOG_LEVEL: 'info',
      ...(values['worker-prefetch'] ? { WORKER_PREFETCH: values['worker-prefetch'] } : {}),
      ...(values['worker-nice'] ? { WORKER_NICE: values['worker-nice'] } : {}),
    },
  });
  let finished = false;
  // Ctrl-C stops the system it started (apps and workers), not just this process.
  const interrupted = () => void system.stop().finally(() => process.exit(130));
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const url = system.webUrl;
    console.error(`bench:fair: warming up (${requests} classic requests of tenant B) …`);
    const warm = await classic(url, bImages, 'warm');

    console.error('bench:fair: solo: tenant B alone …');
    const solo = await classic(url, bImages, 'solo');
    const workersSolo = liveWorkerPids(system.runId).length;

    console.error(`bench:fair: shared: tenant A queues ${backlog} images, then tenant B …`);
    const tA = performance.now();
    const batches = await queueBacklog(url, aImages);
    const queuedAhead = await launchBacklog(url);
    const sharedRun = classic(url, bImages, 'shared');
    const depths: Promise<Record<string, QueueDepths>> | undefined = values.trace ? sampleQueues(system.aws.endpoint, system.aws.env, sharedRun) : undefined;
    const shared = await sharedRun;
    const queuesDuringB = await depths;
    const workersShared = liveWorkerPids(system.runId).length;
    const leftAfterB = await launchBacklog(url);
    const doneA = values['skip-backlog-wait'] ? undefined : await backlogAnswered(url, batches, 900_000);

    const soloP95 = ms(percentile(solo.latenciesMs, 95));
    const sharedP95 = ms(percentile(shared.latenciesMs, 95));
    const figures = {
      soloP95,
      sharedP95,
      ratio: soloP95 > 0 ? +(sharedP95 / soloP95).toFixed(2) : null,
      goal: 'sharedP95 <= 2 x soloP95',
      soloP50: ms(percentile(solo.latenciesMs, 50)),
      sharedP50: ms(percentile(shared.latenciesMs, 50)),
      requests,
      backlog,
      /** Tenant A's launch messages waiting when B's requests went out, and when they were all answered. */
      backlogWaitingAtStartOfB: queuedAhead,
      backlogWaitingAtEndOfB: leftAfterB,
      backlogAnsweredSeconds: doneA === undefined ? null : +((doneA - tA) / 1000).toFixed(1),
      fairGroups: !values.unfair,
      workers: { solo: workersSolo, shared: workersShared, maxWorkers, prefetch: values['worker-prefetch'] ? Number(values['worker-prefetch']) : 'default', nice: values['worker-nice'] ? Number(values['worker-nice']) : 'default' },
      model: process.env['MODEL_DIR'] ?? MODEL_DIR,
      failed: [...warm.failed, ...solo.failed, ...shared.failed],
      ...(values.trace ? { trace: traceOf(runDir, { solo, shared }), queuesDuringB } : {}),
    };
    console.log(JSON.stringify(figures));
    writeJsonOutput(values.json, figures);
    console.log(
      `tenant B's classic p95: alone ${soloP95} ms, behind tenant A's ${backlog} images ${sharedP95} ms ` +
        `(ratio ${figures.ratio}; goal ≤ 2); A's backlog answered in ${figures.backlogAnsweredSeconds} s`,
    );
    if (figures.trace) console.log(`where tenant B's requests waited:\n${formatTrace(figures.trace)}\nqueues while B's shared requests ran: ${JSON.stringify(figures.queuesDuringB)}`);
    finished = true;
    return figures.failed.length > 0 ? EXIT.goalFailed : EXIT.done;
  } finally {
    await system.stop();
    // The logs stay when the run did not finish.
    if (finished && !values.trace) rmSync(runDir, { recursive: true, force: true });
    else console.error(`bench:fair: the logs are kept in ${runDir}/logs`);
  }
});
