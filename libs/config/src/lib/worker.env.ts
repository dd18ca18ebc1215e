import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, ValidateBy } from 'class-validator';
import { toBool, toInt, URL_OPTIONS } from './env-helpers';

export const TF_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export const INFERENCE_ENGINES = ['auto', 'onnx', 'tfjs'] as const;
export const WORKER_PLATFORMS = ['local', 'ec2'] as const;

/** `min,max` with min < max, e.g. `0,1`, `-1,1`, `0,255`. */
const IsRange = () =>
  ValidateBy({
    name: 'isRange',
    validator: {
      validate: (value: unknown) => {
        const range = typeof value === 'string' ? parseRange(value) : undefined;
        return range !== undefined && range[0] < range[1];
      },
      defaultMessage: (args) => `${args?.property} must be "min,max" with min < max, e.g. 0,1 or -1,1`,
    },
  });

/** classifier-worker and libs/classifier variables. */
export class WorkerEnvironment {
  /** A TF.js graph or layers model folder (model.json + weights). */
  @IsOptional() @IsString() MODEL_DIR?: string;
  /** Or an https URL of a model.json, downloaded once into MODEL_CACHE_DIR (plain http is refused). */
  @IsOptional()
  @IsUrl({ ...URL_OPTIONS, protocols: ['https'] }, { message: 'MODEL_URL must be an https: URL (plain http is refused: a model fetched over it can be replaced on the way)' })
  MODEL_URL?: string;
  /** SHA-256 (hex) of the model.json the worker may load; any other is refused. */
  @IsOptional() @Matches(/^[0-9a-fA-F]{64}$/, { message: 'MODEL_SHA256 must be the 64 hex digits of a SHA-256' }) MODEL_SHA256?: string;
  /** Download cache of MODEL_URL. */
  @IsString() MODEL_CACHE_DIR = '.model-cache';
  /** Square input side in pixels, when neither the model's metadata.json nor the model itself tells it. */
  @IsOptional() @Transform(toInt) @Max(4096) @Min(8) @IsInt() MODEL_INPUT_SIZE?: number;
  /** Input value range `min,max` the model expects (e.g. `0,1`, `-1,1`), when its metadata.json does not say; default `0,1`. */
  @IsOptional() @IsRange() MODEL_INPUT_RANGE?: string;
  /** Index of the first real class among the outputs (1 when output 0 is "background"), when metadata.json does not say; default outputs minus labels. */
  @IsOptional() @Transform(toInt) @Max(100) @Min(0) @IsInt() MODEL_LABEL_OFFSET?: number;
  /** Class names: a JSON array of strings or one name per line. Default: metadata.json's labels, else ImageNet-1k. */
  @IsOptional() @IsString() MODEL_LABELS_FILE?: string;

  /** `auto`: ONNX Runtime when the model has a model.onnx (the default model does), else TensorFlow.js. */
  @IsIn(INFERENCE_ENGINES) INFERENCE_ENGINE: (typeof INFERENCE_ENGINES)[number] = 'auto';
  /** ONNX Runtime threads per model run; default: the machine's cores (one worker per instance). */
  @IsOptional() @Transform(toInt) @Max(256) @Min(1) @IsInt() INFERENCE_THREADS?: number;
  /** `auto`: tfjs-node when it loads, else wasm. `cpu` only when asked for (about 25x slower). */
  @IsIn(TF_BACKENDS) TF_BACKEND: (typeof TF_BACKENDS)[number] = 'auto';
  /** Run the model in a worker thread, so that queue and storage I/O never waits for inference. */
  @Transform(toBool) @IsBoolean() INFERENCE_THREAD = true;
  /**
   * How much lower the scheduling priority of the worker's other threads is than its model thread's (nice, 0 to 19,
   * at most 19 in all; Linux): where they compete for a core the model gets it first, and the rest (queues, storage,
   * decoding) fills the gaps. 0: all alike. Default: 19 where the model's threads leave a core free (ONNX Runtime on
   * fewer threads than cores), else 5. (The local fleet starts whole workers at WORKER_NICE.)
   */
  @IsOptional() @Transform(toInt) @Max(19) @Min(0) @IsInt() WORKER_OTHER_THREADS_NICE?: number;
  /**
   * Most images per model call; a batch takes what is ready, it never waits to fill.
   * Default: per engine, as measured (4 on ONNX Runtime, 1 on TensorFlow.js).
   */
  @IsOptional() @Transform(toInt) @Max(64) @Min(1) @IsInt() INFERENCE_BATCH_SIZE?: number;

  /** Largest image the worker decodes: bytes, and pixels by its header (decompression bombs). */
  @Transform(toInt) @Max(1024 * 1024 * 1024) @Min(1) @IsInt() MAX_IMAGE_BYTES = 32 * 1024 * 1024;
  /** Largest image the worker decodes, in pixels by its header (decompression bombs). */
  @Transform(toInt) @Max(1_000_000_000) @Min(1) @IsInt() MAX_IMAGE_PIXELS = 50_000_000;

  /** Where the worker runs: `local` (a process; id from WORKER_ID) or `ec2` (id from IMDSv2). */
  @IsIn(WORKER_PLATFORMS) WORKER_PLATFORM: (typeof WORKER_PLATFORMS)[number] = 'local';
  /** The worker id on the `local` platform (the local fleet sets it). */
  @IsOptional() @Matches(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'WORKER_ID must be 1-64 of [A-Za-z0-9._:-]' })
  WORKER_ID?: string;
  /** The EC2 instance metadata service (the AWS SDK's own variable name). */
  @IsUrl(URL_OPTIONS) AWS_EC2_METADATA_SERVICE_ENDPOINT = 'http://169.254.169.254';

  /**
   * Seconds a worker may go without progress on its images (its heartbeat) before the
   * monitor controller deems it hung, terminates it and retries the image.
   */
  @Transform(toInt) @Max(86400) @Min(5) @IsInt() IMAGE_DEADLINE_SECONDS = 120;
  /** Past this many seconds from taking an image it is retried even from a worker that progresses. */
  @Transform(toInt) @Max(86400) @Min(5) @IsInt() IMAGE_HARD_LIMIT_SECONDS = 600;
  /**
   * How often the monitor controller checks each image in progress (and the worker's
   * liveness): a dead worker's images are re-queued within about this long (SQS delays stop at 900).
   */
  @Transform(toInt) @Max(900) @Min(1) @IsInt() LIVENESS_CHECK_SECONDS = 5;
  /** How often a worker holding images rewrites its heartbeat (progress, held, handed back). */
  @Transform(toInt) @Max(300) @Min(1) @IsInt() HEARTBEAT_SECONDS = 2;
  /**
   * Times an image may be handed back after a passing failure before that counts as a failed attempt. Each hand-back
   * waits twice as long as the one before, from 2 s up to 30 s: 8 ride out about 2.5 minutes of an S3 or SQS outage
   * per attempt, so an outage of minutes does not spend the image's attempts and end in an error result.
   */
  @Transform(toInt) @Max(100) @Min(0) @IsInt() MAX_HAND_BACKS = 8;
  /** Long-poll wait of the launch queue, seconds (0..20). */
  @Transform(toInt) @Max(20) @Min(0) @IsInt() POLL_WAIT_SECONDS = 20;
  /** Images one worker holds at once (received, not yet finished); a receive takes at most 10. */
  @Transform(toInt) @Max(100) @Min(1) @IsInt() WORKER_PREFETCH = 20;
}

export interface WorkerSettings {
  modelDir?: string;
  modelUrl?: string;
  modelSha256?: string;
  modelCacheDir: string;
  modelInputSize?: number;
  modelInputRange?: [number, number];
  modelLabelOffset?: number;
  modelLabelsFile?: string;
  tfBackend: (typeof TF_BACKENDS)[number];
  inferenceEngine: (typeof INFERENCE_ENGINES)[number];
  inferenceThreads?: number;
  inferenceThread: boolean;
  otherThreadsNice?: number;
  inferenceBatchSize?: number;
  maxImageBytes: number;
  maxImagePixels: number;
  platform: (typeof WORKER_PLATFORMS)[number];
  workerId?: string;
  metadataEndpoint: string;
  imageDeadlineSeconds: number;
  imageHardLimitSeconds: number;
  livenessCheckSeconds: number;
  heartbeatSeconds: number;
  maxHandBacks: number;
  pollWaitSeconds: number;
  prefetch: number;
}

function parseRange(value: string | undefined): [number, number] | undefined {
  const parts = value?.split(',').map((s) => s.trim());
  if (parts?.length !== 2 || parts.some((p) => !/^-?\d+(\.\d+)?$/.test(p))) return undefined;
  return [Number(parts[0]), Number(parts[1])];
}

export function workerSettings(e: WorkerEnvironment): WorkerSettings {
  return {
    modelDir: e.MODEL_DIR,
    modelUrl: e.MODEL_URL,
    modelSha256: e.MODEL_SHA256?.toLowerCase(),
    modelCacheDir: e.MODEL_CACHE_DIR,
    modelInputSize: e.MODEL_INPUT_SIZE,
    modelInputRange: parseRange(e.MODEL_INPUT_RANGE),
    modelLabelOffset: e.MODEL_LABEL_OFFSET,
    modelLabelsFile: e.MODEL_LABELS_FILE,
    tfBackend: e.TF_BACKEND,
    inferenceEngine: e.INFERENCE_ENGINE,
    inferenceThreads: e.INFERENCE_THREADS,
    inferenceThread: e.INFERENCE_THREAD,
    otherThreadsNice: e.WORKER_OTHER_THREADS_NICE,
    inferenceBatchSize: e.INFERENCE_BATCH_SIZE,
    maxImageBytes: e.MAX_IMAGE_BYTES,
    maxImagePixels: e.MAX_IMAGE_PIXELS,
    platform: e.WORKER_PLATFORM,
    workerId: e.WORKER_ID,
    metadataEndpoint: e.AWS_EC2_METADATA_SERVICE_ENDPOINT,
    imageDeadlineSeconds: e.IMAGE_DEADLINE_SECONDS,
    imageHardLimitSeconds: Math.max(e.IMAGE_HARD_LIMIT_SECONDS, e.IMAGE_DEADLINE_SECONDS),
    livenessCheckSeconds: e.LIVENESS_CHECK_SECONDS,
    heartbeatSeconds: e.HEARTBEAT_SECONDS,
    maxHandBacks: e.MAX_HAND_BACKS,
    pollWaitSeconds: e.POLL_WAIT_SECONDS,
    prefetch: e.WORKER_PREFETCH,
  };
}
