import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min } from 'class-validator';
import { toInt, URL_OPTIONS } from './env-helpers';

export const TF_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export const WORKER_PLATFORMS = ['local', 'ec2'] as const;

/** classifier-worker and libs/classifier variables. */
export class WorkerEnvironment {
  /** A TF.js graph or layers model folder (model.json + weights). */
  @IsOptional() @IsString() MODEL_DIR?: string;
  /** Or an http(s) URL of a model.json, downloaded once into MODEL_CACHE_DIR. */
  @IsOptional() @IsUrl(URL_OPTIONS) MODEL_URL?: string;
  @IsString() MODEL_CACHE_DIR = '.model-cache';

  /** `auto`: tfjs-node when it loads, else wasm. `cpu` only when asked for (about 25x slower). */
  @IsIn(TF_BACKENDS) TF_BACKEND: (typeof TF_BACKENDS)[number] = 'auto';

  /** Where the worker runs: `local` (a process; id from WORKER_ID) or `ec2` (id from IMDSv2). */
  @IsIn(WORKER_PLATFORMS) WORKER_PLATFORM: (typeof WORKER_PLATFORMS)[number] = 'local';
  @IsOptional() @Matches(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'WORKER_ID must be 1-64 of [A-Za-z0-9._:-]' })
  WORKER_ID?: string;

  /** Seconds a worker has for one image before the monitor controller checks for its result. */
  @Transform(toInt) @Max(86400) @Min(5) @IsInt() IMAGE_DEADLINE_SECONDS = 120;
  /** Long-poll wait of the launch queue, seconds (0..20). */
  @Transform(toInt) @Max(20) @Min(0) @IsInt() POLL_WAIT_SECONDS = 20;
}

export interface WorkerSettings {
  modelDir?: string;
  modelUrl?: string;
  modelCacheDir: string;
  tfBackend: (typeof TF_BACKENDS)[number];
  platform: (typeof WORKER_PLATFORMS)[number];
  workerId?: string;
  imageDeadlineSeconds: number;
  pollWaitSeconds: number;
}

export function workerSettings(e: WorkerEnvironment): WorkerSettings {
  return {
    modelDir: e.MODEL_DIR,
    modelUrl: e.MODEL_URL,
    modelCacheDir: e.MODEL_CACHE_DIR,
    tfBackend: e.TF_BACKEND,
    platform: e.WORKER_PLATFORM,
    workerId: e.WORKER_ID,
    imageDeadlineSeconds: e.IMAGE_DEADLINE_SECONDS,
    pollWaitSeconds: e.POLL_WAIT_SECONDS,
  };
}
