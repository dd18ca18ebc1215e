import { median, percentile } from '@tools/loadgen';
import type { cpuPerImage } from './thread-times';

// bench:classifier's report: its figures computed from what one run measured.

/** The worker's stages, as its "image classified" log line times them. */
export const BREAKDOWN = ['claim', 'download', 'decode', 'infer', 'publish'] as const;

/** The timings of one "image classified" (or refused) line of the worker's log. */
export interface ImageLog {
  timings: Record<string, number>;
  /** Images in the model run this one was part of. */
  batchSize?: number;
}

/** One round of the raw loop: images per second, and the CPU per image it used. */
export interface RawRound {
  rate: number;
  cpuMsPerImage: number;
}

/** One round of images through the worker. */
export interface PipelineRound {
  rate: number;
  logs: ImageLog[];
  cpu: ReturnType<typeof cpuPerImage>;
  /** Requests the embedded S3/SQS served, per image. */
  requests: { s3: number; sqs: number };
  byOperation: Record<string, number>;
}

export interface RunMeasurements {
  engine: string;
  backend: string;
  model: string;
  images: number;
  batchSize: number;
  prefetch: number;
  /** Timed rounds, after the cold one and `warmUpRounds`. */
  rounds: number;
  warmUpRounds: number;
  /** The raw loop's rounds, before and after the pipeline. */
  raw: RawRound[];
  /** Every pipeline round: the cold one, the warm-up rounds, then the timed ones. */
  pipeline: PipelineRound[];
  coldStartMs: number;
  workerColdStartMs: number;
  rssMbAfterFirstRound?: number;
  rssMbAtEnd?: number;
  imagesVerified: number;
  cores: number;
  /** Where the emulator kept its objects (see bench-classifier.ts: edgeStorage). */
  edgeStorage: string;
  /** The emulator's nice while the worker ran (see bench-classifier.ts: edgeGivesWayToModel). */
  edgeNice?: number;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

/** Each key's median over rows (a key a row lacks counts as 0), keys sorted. */
function medianOf(rows: Record<string, number>[]): Record<string, number> {
  return Object.fromEntries([...new Set(rows.flatMap((r) => Object.keys(r)))].sort().map((k) => [k, r2(median(rows.map((r) => r[k] ?? 0)))]));
}

/** Each value's share of `values` (undefined ones left out), keys in numeric order. */
function shares(values: (number | undefined)[]): Record<string, number> {
  const known = values.filter((v): v is number => v !== undefined);
  const counts = new Map<number, number>();
  for (const v of known) counts.set(v, (counts.get(v) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => a[0] - b[0]).map(([v, n]) => [String(v), r2(n / known.length)]));
}

/** The report's figures: medians of the timed rounds, the raw rate as the median of all its rounds. */
export function classifierReport(m: RunMeasurements) {
  const raw = median(m.raw.map((x) => x.rate));
  const timed = m.pipeline.slice(1 + m.warmUpRounds);
  const pipeline = median(timed.map((x) => x.rate));
  const logs = timed.flatMap((x) => x.logs);
  const avg = (k: string) => r2(logs.reduce((s, l) => s + (l.timings[`${k}Ms`] ?? 0), 0) / logs.length);
  const totals = logs.map((l) => l.timings['totalMs']);
  const cpuKeys = (['workerMainThread', 'workerOtherThreads', 'emulator'] as const).filter((k) => timed[0].cpu[k] !== undefined);
  const cpuMsPerImage = Object.fromEntries(cpuKeys.map((k) => [k, r2(median(timed.map((x) => x.cpu[k] ?? 0)))])) as Record<string, number>;
  const cpuTotal = Object.values(cpuMsPerImage).reduce((a, b) => a + b, 0);
  const rawCpuMsPerImage = median(m.raw.map((x) => x.cpuMsPerImage));
  // The model's own CPU per image in the worker (its thread's CPU over each run, as the worker logs it), where told.
  const perRoundModelCpu = timed.map((x) => (x.logs.every((l) => l.timings['modelCpuMs'] !== undefined) ? x.logs.reduce((s, l) => s + l.timings['modelCpuMs'], 0) / x.logs.length : undefined));
  const modelCpuInWorker = perRoundModelCpu.every((c) => c !== undefined) ? median(perRoundModelCpu as number[]) : undefined;
  // The worker's threads less the model's own CPU: what the worker spends around the model. The model's CPU is
  // its runs' in the worker where known (on two busy cores it costs more than alone), else the raw loop's.
  const workerCpu = (cpuMsPerImage['workerMainThread'] ?? 0) + (cpuMsPerImage['workerOtherThreads'] ?? 0);
  const measured = cpuMsPerImage['workerMainThread'] !== undefined;
  const workerOutsideModel = measured ? r2(Math.max(0, workerCpu - (modelCpuInWorker ?? rawCpuMsPerImage))) : undefined;
  const workerLessRawModel = measured ? r2(Math.max(0, workerCpu - rawCpuMsPerImage)) : undefined;
  return {
    engine: m.engine,
    backend: m.backend,
    model: m.model,
    images: m.images,
    rawImagesPerSecond: r1(raw),
    pipelineImagesPerSecond: r1(pipeline),
    ratio: r2(pipeline / raw),
    p50Ms: r1(percentile(totals, 50)),
    p95Ms: r1(percentile(totals, 95)),
    breakdownMs: Object.fromEntries(BREAKDOWN.map((k) => [k, avg(k)])),
    // Of the timed images, the share that ran in model runs of each size: runs go as images are ready, never waiting to fill.
    imagesByModelBatchSize: shares(logs.map((l) => l.batchSize)),
    rawMsPerImage: r2(1000 / raw),
    // The model's own CPU per image (the raw loop is single-threaded): steadier than wall time on a busy machine.
    rawCpuMsPerImage: r1(rawCpuMsPerImage),
    // The same model's CPU per image inside the worker, on cores it shares (undefined where Node cannot tell a thread's CPU).
    modelCpuMsPerImageInWorker: modelCpuInWorker === undefined ? undefined : r2(modelCpuInWorker),
    // What bounds the pipeline: CPU per image of the worker's threads and of the emulator, on this many cores.
    // workerLessRawModel: the worker's CPU less the raw loop's model CPU (what workerOutsideModel was before the model's
    // CPU in the worker was known): the difference is what sharing the cores costs the model.
    cpuMsPerImage: { ...cpuMsPerImage, total: r2(cpuTotal), workerOutsideModel, workerLessRawModel },
    // The worker's CPU per image by thread name (the model's included): where the rest goes.
    workerCpuMsPerImageByThread: medianOf(timed.map((x) => x.cpu.byThread ?? {})),
    // Per image, how long each thread was runnable but waited for a core (Linux schedstat; empty without it):
    // large beside its CPU, the pipeline is bound by the cores it shares, not by waiting for S3 or SQS.
    workerRunQueueWaitMsPerImageByThread: medianOf(timed.map((x) => x.cpu.waitByThread ?? {})),
    cores: m.cores,
    edgeStorage: m.edgeStorage,
    edgeNice: m.edgeNice,
    cpuBoundImagesPerSecond: r1((m.cores * 1000) / cpuTotal),
    // Requests to the emulator per image in the timed rounds (the bench's own launch sends included).
    requestsPerImage: { s3: r2(median(timed.map((x) => x.requests.s3))), sqs: r2(median(timed.map((x) => x.requests.sqs))), byOperation: medianOf(timed.map((x) => x.byOperation)) },
    coldStartMs: Math.round(m.coldStartMs),
    workerColdStartMs: m.workerColdStartMs,
    rssMbAfterFirst100: m.images === 100 ? m.rssMbAfterFirstRound : undefined,
    rssMbAfterFirstRound: m.rssMbAfterFirstRound,
    rssMbAtEnd: m.rssMbAtEnd,
    batchSize: m.batchSize,
    prefetch: m.prefetch,
    rounds: m.rounds,
    warmUpRounds: m.warmUpRounds,
    coldRoundImagesPerSecond: r1(m.pipeline[0].rate),
    warmUpRoundsImagesPerSecond: m.pipeline.slice(1, 1 + m.warmUpRounds).map((x) => r1(x.rate)),
    pipelineRoundsImagesPerSecond: timed.map((x) => r1(x.rate)),
    rawRoundsImagesPerSecond: m.raw.map((x) => r1(x.rate)),
    imagesVerified: m.imagesVerified,
    // The worker runs on this Node (process.execPath): side by side on this machine, Node 20 spent
    // about a fifth more CPU per image outside the model than Node 24, the production runtime.
    node: process.version,
  };
}
