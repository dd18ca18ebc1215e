import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
} from 'class-validator';

import { toBool, toInt, URL_OPTIONS } from './env-helpers';
// S3 bucket naming rules (the subset that matters for a typo).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const CHECKSUM_MODES = ['WHEN_SUPPORTED', 'WHEN_REQUIRED'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The process environment as the apps read it. Property names are the variable
 * names, so a validation message names the variable a person has to fix.
 * AWS_* names follow the AWS SDK's own conventions.
 */
export class Environment {
  /** AWS region of every client. */
  @IsString() @Matches(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'AWS_REGION must look like us-east-1' })
  AWS_REGION = 'us-east-1';

  /** One endpoint for every AWS service (the local edge, LocalStack, moto); unset: AWS itself. */
  @IsOptional() @IsUrl(URL_OPTIONS) AWS_ENDPOINT_URL?: string;
  /** S3 endpoint; default AWS_ENDPOINT_URL. */
  @IsOptional() @IsUrl(URL_OPTIONS) AWS_ENDPOINT_URL_S3?: string;
  /** SQS endpoint; default AWS_ENDPOINT_URL. */
  @IsOptional() @IsUrl(URL_OPTIONS) AWS_ENDPOINT_URL_SQS?: string;
  /** EC2 endpoint; default AWS_ENDPOINT_URL. */
  @IsOptional() @IsUrl(URL_OPTIONS) AWS_ENDPOINT_URL_EC2?: string;
  /** SNS endpoint; default AWS_ENDPOINT_URL. */
  @IsOptional() @IsUrl(URL_OPTIONS) AWS_ENDPOINT_URL_SNS?: string;

  /** Path-style S3 URLs; emulators need them. Defaults to on when an S3 endpoint is set. */
  @IsOptional() @Transform(toBool) @IsBoolean() S3_FORCE_PATH_STYLE?: boolean;

  /** Set for local-aws-sqs, whose visible count includes in-flight messages (real SQS: false). */
  @Transform(toBool) @IsBoolean() SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT = false;

  /** SDK request checksums; `WHEN_REQUIRED` for s3rver, which stores streamed uploads corrupted otherwise. */
  @IsIn(CHECKSUM_MODES) AWS_REQUEST_CHECKSUM_CALCULATION: (typeof CHECKSUM_MODES)[number] = 'WHEN_SUPPORTED';
  /** SDK response checksum validation; `WHEN_REQUIRED` for s3rver. */
  @IsIn(CHECKSUM_MODES) AWS_RESPONSE_CHECKSUM_VALIDATION: (typeof CHECKSUM_MODES)[number] = 'WHEN_SUPPORTED';

  /** Bucket of the uploaded images, keyed `<batchId>/<imageId>.<ext>`. */
  @Matches(BUCKET, { message: 'INPUT_BUCKET must be a valid S3 bucket name' }) INPUT_BUCKET = 'ics-input';
  /** Bucket of the results (`results/<imageId>.json`, the first written wins), heartbeats and leases. */
  @Matches(BUCKET, { message: 'OUTPUT_BUCKET must be a valid S3 bucket name' }) OUTPUT_BUCKET = 'ics-output';

  /** Queue of one launch message per image to classify. */
  @IsUrl(URL_OPTIONS) LAUNCH_QUEUE_URL!: string;
  /** Queue of the delayed monitor messages: "worker X started image Y". */
  @IsUrl(URL_OPTIONS) MONITOR_QUEUE_URL!: string;
  /** Queue of one output message per finished image, read by the web tier (when OUTPUT_TOPIC_ARN is unset). */
  @IsUrl(URL_OPTIONS) OUTPUT_QUEUE_URL!: string;
  /**
   * SNS topic of the results: set, workers and the monitor publish each result to it (not to
   * OUTPUT_QUEUE_URL) and every web tier hears every result through a queue of its own subscribed to it.
   */
  @IsOptional() @Matches(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, { message: 'OUTPUT_TOPIC_ARN must be an SNS topic ARN' })
  OUTPUT_TOPIC_ARN?: string;
  /** The launch queue's dead-letter queue: the monitor controller queues what lands there as its image's next attempt (an error result once `MAX_ATTEMPTS` are spent). */
  @IsOptional() @IsUrl(URL_OPTIONS) LAUNCH_DEAD_LETTER_QUEUE_URL?: string;
  /** The monitor queue's dead-letter queue: the monitor controller gives each image found there one answer. */
  @IsOptional() @IsUrl(URL_OPTIONS) MONITOR_DEAD_LETTER_QUEUE_URL?: string;
  /**
   * Queue of webhook deliveries (one per finished batch with a callbackUrl), sent and consumed by the
   * web tier; a failed delivery goes back to it delayed. Unset: webhooks are off (a callbackUrl is refused).
   */
  @IsOptional() @IsUrl(URL_OPTIONS) WEBHOOK_QUEUE_URL?: string;
  /** A queue consumer whose receives have failed (or that made no progress) for this long reports unhealthy. */
  @Transform(toInt) @Max(86400) @Min(1) @IsInt() CONSUMER_UNHEALTHY_SECONDS = 60;
  /**
   * Longest a queue handler (a tier's results, webhooks, monitor checks, dead letters) may hold its message
   * without settling it, seconds. Meanwhile its consumer keeps the message hidden (renewed every half visibility
   * timeout); past it the handler is abandoned, logged, and the message is visible again at once for another receive.
   * Above one AWS call's worst case (4 tries of 30 s), so that a slow call is not cut.
   */
  @Transform(toInt) @Max(43_000) @Min(1) @IsInt() QUEUE_HANDLER_TIMEOUT_SECONDS = 180;

  /** Most workers alive at once (locally `npm start` makes it what the cores keep busy: one per core, one per two for an ONNX model). */
  @Transform(toInt) @Max(1000) @Min(1) @IsInt() MAX_WORKERS = 20;
  /** A worker with no work for this long terminates itself, seconds. */
  @Transform(toInt) @Max(86400) @Min(1) @IsInt() IDLE_SECONDS = 60;
  /** Tries per image before an error result. */
  @Transform(toInt) @Max(100) @Min(1) @IsInt() MAX_ATTEMPTS = 3;

  /** HTTP port of an app that serves HTTP (0: any free port). */
  @Transform(toInt) @Max(65535) @Min(0) @IsInt() PORT = 3000;
  /** Least severe log level written. */
  @IsIn(LOG_LEVELS) LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';
}
