/**
 * Where tenant B's classic requests waited, stage by stage: the bench's own
 * send and answer times per request, joined by file name with the workers'
 * "image classified" log lines (which carry each image's tenant, file name and
 * stage timings). Used by `npm run bench:fair -- --trace`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '@tools/loadgen';
import { sleep } from '@tools/testing/eventually';

/** One of tenant B's requests as the bench saw it (epoch ms). */
export interface SentRequest {
  fileName: string;
  sentAt: number;
  answeredAt?: number;
}

/** The worker's log line for one finished image (the fields used here). */
interface Classified {
  time: number;
  fileName?: string;
  tenant?: string;
  heldAtReceive?: number;
  timings: Record<string, number | undefined>;
}

/** Stages in the order an image meets them; each is milliseconds. */
export const STAGES = ['upload', 'store', 'queue', 'room', 'claim', 'turn', 'download', 'decode', 'modelWait', 'infer', 'publish', 'toAnswer'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageSummary {
  p50: number;
  p95: number;
}

export interface PhaseTrace {
  /** Requests whose image was found in a worker's log. */
  traced: number;
  stages: Record<Stage, StageSummary>;
  /** Launch messages the receiving worker already held when B's message arrived. */
  heldAtReceive: StageSummary;
}

/** Reads every worker's "image classified" lines under `<runDir>/fleet`. */
export function readClassified(runDir: string): Classified[] {
  const dir = join(runDir, 'fleet');
  if (!existsSync(dir)) return [];
  const lines: Classified[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!line.includes('"image classified"')) continue;
      try {
        lines.push(JSON.parse(line) as Classified);
      } catch {
        // a line cut by the process's end: not an image's record
      }
    }
  }
  return lines;
}

/**
 * Each request's stages: upload = sent → the upload's enqueuedAt (counted back
 * from the worker's receive), store = enqueuedAt → the launch message sent,
 * queue = sent → received by a worker, the worker's own stages, and toAnswer = the
 * worker's log line (result written and announced) → the answer reached the bench
 * (the results topic, the tier's queue and its check against the stored result).
 */
export function traceRequests(sent: SentRequest[], classified: Classified[], tenant: string): { stages: Record<Stage, number>; held: number }[] {
  const byName = new Map<string, Classified>();
  for (const c of classified) if (c.tenant === tenant && c.fileName) byName.set(c.fileName, c);
  const out: { stages: Record<Stage, number>; held: number }[] = [];
  for (const r of sent) {
    const c = byName.get(r.fileName);
    if (!c || r.answeredAt === undefined) continue;
    const t = (k: string) => c.timings[`${k}Ms`] ?? 0;
    const receivedAt = c.time - t('total');
    const enqueuedAt = receivedAt - t('queue') - t('store');
    out.push({
      stages: {
        upload: enqueuedAt - r.sentAt,
        store: t('store'),
        queue: t('queue'),
        room: t('room'),
        claim: t('claim'),
        turn: t('turn'),
        download: t('download'),
        decode: t('decode'),
        modelWait: t('modelWait'),
        infer: t('infer'),
        publish: t('publish'),
        toAnswer: r.answeredAt - c.time,
      },
      held: c.heldAtReceive ?? 0,
    });
  }
  return out;
}

export function summarise(traces: { stages: Record<Stage, number>; held: number }[]): PhaseTrace {
  const sum = (xs: number[]): StageSummary => ({ p50: Math.round(percentile(xs, 50)), p95: Math.round(percentile(xs, 95)) });
  const stages = Object.fromEntries(STAGES.map((s) => [s, sum(traces.map((t) => t.stages[s]))])) as Record<Stage, StageSummary>;
  return { traced: traces.length, stages, heldAtReceive: sum(traces.map((t) => t.held)) };
}

/** A table of the phases' p50/p95 per stage, for the console. */
export function formatTrace(phases: Record<string, PhaseTrace>): string {
  const names = Object.keys(phases);
  const head = ['stage (ms)', ...names.map((n) => `${n} p50/p95 (${phases[n].traced} traced)`)];
  const rows = [...STAGES.map((s) => [s, ...names.map((n) => `${phases[n].stages[s].p50} / ${phases[n].stages[s].p95}`)]), ['heldAtReceive', ...names.map((n) => `${phases[n].heldAtReceive.p50} / ${phases[n].heldAtReceive.p95}`)]];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

/** Messages in a queue over a phase: visible (waiting) and in flight, each as max and median of the samples. */
export interface QueueDepths {
  samples: number;
  waiting: StageSummary & { max: number };
  inFlight: StageSummary & { max: number };
}

/**
 * Samples the depth of the launch queue and of the web tier's results queue
 * (`ics-web-tier-*`) every `everyMs` until `stop` resolves: whether B's launch
 * messages or its results waited in a queue. (On the local edge the "visible"
 * count includes messages in flight; the waiting count here subtracts them.)
 */
export async function sampleQueues(endpoint: string, env: Record<string, string>, stop: Promise<unknown>, everyMs = 200): Promise<Record<string, QueueDepths>> {
  const { SQSClient, ListQueuesCommand, GetQueueAttributesCommand } = await import('@aws-sdk/client-sqs');
  const sqs = new SQSClient({ endpoint, region: env['AWS_REGION'], credentials: { accessKeyId: env['AWS_ACCESS_KEY_ID'], secretAccessKey: env['AWS_SECRET_ACCESS_KEY'] } });
  const names = ['launch', 'web-tier'];
  const seen: Record<string, { waiting: number[]; inFlight: number[] }> = Object.fromEntries(names.map((n) => [n, { waiting: [], inFlight: [] }]));
  let done = false;
  void stop.finally(() => (done = true));
  try {
    const urls = async (prefix: string) => (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }))).QueueUrls ?? [];
    const queues = { launch: (await urls('ics-launch')).filter((u) => u.endsWith('ics-launch')), 'web-tier': await urls('ics-web-tier-') };
    while (!done) {
      for (const name of names) {
        let waiting = 0;
        let inFlight = 0;
        for (const QueueUrl of queues[name as keyof typeof queues]) {
          const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
          const hidden = Number(a['ApproximateNumberOfMessagesNotVisible'] ?? 0);
          const visible = Number(a['ApproximateNumberOfMessages'] ?? 0);
          inFlight += hidden;
          waiting += env['SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT'] === 'true' ? Math.max(0, visible - hidden) : visible;
        }
        seen[name].waiting.push(waiting);
        seen[name].inFlight.push(inFlight);
      }
      await sleep(everyMs);
    }
  } finally {
    sqs.destroy();
  }
  const depth = (xs: number[]) => ({ p50: Math.round(percentile(xs, 50)), p95: Math.round(percentile(xs, 95)), max: Math.max(0, ...xs) });
  return Object.fromEntries(names.map((n) => [n, { samples: seen[n].waiting.length, waiting: depth(seen[n].waiting), inFlight: depth(seen[n].inFlight) }]));
}
