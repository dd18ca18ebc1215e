import { Transform } from 'class-transformer';
import { IsArray, IsInt, IsString, Max, Min } from 'class-validator';
import { toInt, toList } from './env-helpers';

/** web-tier variables. */
export class WebEnvironment {
  /** Most files in one upload. */
  @Transform(toInt) @Max(10000) @Min(1) @IsInt() MAX_FILES = 100;
  /** Largest file accepted, bytes. */
  @Transform(toInt) @Max(1024 * 1024 * 1024) @Min(1) @IsInt() MAX_FILE_BYTES = 10 * 1024 * 1024;
  /** How long the classic `POST /` holds a request for its result, seconds. */
  @Transform(toInt) @Max(3600) @Min(1) @IsInt() CLASSIC_TIMEOUT_SECONDS = 300;
  /** Accepted `x-api-key` values, comma-separated; empty = no key needed. */
  @Transform(toList) @IsArray() @IsString({ each: true }) API_KEYS: string[] = [];
  /** Allowed CORS origins, comma-separated; empty = CORS off. `*` = any. */
  @Transform(toList) @IsArray() @IsString({ each: true }) CORS_ORIGINS: string[] = [];
  /** Requests per minute per client before 429. */
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt() RATE_LIMIT_PER_MINUTE = 6000;
}

export interface WebSettings {
  maxFiles: number;
  maxFileBytes: number;
  classicTimeoutSeconds: number;
  apiKeys: string[];
  corsOrigins: string[];
  rateLimitPerMinute: number;
}

export function webSettings(e: WebEnvironment): WebSettings {
  return {
    maxFiles: e.MAX_FILES,
    maxFileBytes: e.MAX_FILE_BYTES,
    classicTimeoutSeconds: e.CLASSIC_TIMEOUT_SECONDS,
    apiKeys: e.API_KEYS,
    corsOrigins: e.CORS_ORIGINS,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
  };
}
