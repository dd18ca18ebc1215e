import { Type } from 'class-transformer';
import {
  Equals,
  IsArray,
  IsBoolean,
  IsInt,
  IsISO8601,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ArrayMaxSize,
  ValidateNested,
  IsUUID,
} from 'class-validator';
import { INPUT_KEY_PATTERN, TENANT_PATTERN } from './keys';
import { allOf, MaxJsonBytes } from './validation';

/** A worker process's session id (see Heartbeat.session). */
export const SESSION_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A worker's id: an EC2 instance id or a local worker id (WORKER_ID). */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** A count of hand-backs (see LaunchMessage.handBacks): absent, or 0 to 100. */
const HandBackCount = () => allOf(IsOptional(), IsInt(), Min(0), Max(100));

/** A worker process's session (see Heartbeat.session): absent, or SESSION_PATTERN. */
const OptionalSession = () => allOf(IsOptional(), Matches(SESSION_PATTERN, { message: 'session must be 1-64 of [A-Za-z0-9_-]' }));

/** Bumped when a message's shape changes incompatibly; consumers reject other versions. */
export const SCHEMA_VERSION = 1 as const;

/** The classic set-up caps the request queue at 1 KB: launch messages carry references only. */
export const MAX_LAUNCH_MESSAGE_BYTES = 1024;
/** File names are shown to users only; they never become keys. */
export const MAX_FILE_NAME_BYTES = 255;

// Control characters are refused so that a name never breaks a log line or a header.
// eslint-disable-next-line no-control-regex
const NO_CONTROL_CHARS = /^[^\u0000-\u001f\u007f]*$/;

abstract class ImageRef {
  @Equals(SCHEMA_VERSION)
  v!: typeof SCHEMA_VERSION;

  @IsUUID('4')
  batchId!: string;

  @IsUUID('4')
  imageId!: string;

  @IsString()
  @MinLength(1)
  @MaxJsonBytes(MAX_FILE_NAME_BYTES)
  @Matches(NO_CONTROL_CHARS, { message: 'fileName must not contain control characters' })
  fileName!: string;

  /** 1 for the first try; the monitor controller re-queues with attempt + 1. */
  @IsInt()
  @Min(1)
  @Max(100)
  attempt!: number;
}

/** web-tier → launch queue → classifier-worker: one image to classify. */
export class LaunchMessage extends ImageRef {
  @Equals('launch')
  type!: 'launch';

  @Matches(INPUT_KEY_PATTERN, { message: 'inputKey must be <batchId>/<imageId>.<jpg|png|webp|gif>' })
  inputKey!: string;

  @IsISO8601({ strict: true })
  enqueuedAt!: string;

  /**
   * Times a worker handed this attempt back after a passing failure (S3 or SQS
   * unreachable for a moment). A hand-back is not an attempt; past
   * MAX_HAND_BACKS the worker leaves the image to the monitor, which counts one.
   */
  @HandBackCount()
  handBacks?: number;

  /** Whose image this is (see TENANT_PATTERN); absent in messages from before tenants existed. */
  @IsOptional()
  @Matches(TENANT_PATTERN, { message: 'tenant must be 1-64 letters, digits, "_" or "-"' })
  tenant?: string;
}

/** classifier-worker → monitor queue (delayed to the deadline) → monitor-controller. */
export class MonitorMessage extends ImageRef {
  @Equals('monitor')
  type!: 'monitor';

  @Matches(INPUT_KEY_PATTERN, { message: 'inputKey must be <batchId>/<imageId>.<jpg|png|webp|gif>' })
  inputKey!: string;

  /** Who took the image: an EC2 instance id or a local worker id. */
  @IsString()
  @Matches(WORKER_ID_PATTERN, { message: 'instanceId must be 1-64 of [A-Za-z0-9._:-]' })
  instanceId!: string;

  @IsISO8601({ strict: true })
  startedAt!: string;

  /**
   * By then the worker must have shown progress (its heartbeat); past it an
   * alive worker without progress is hung. A worker that progresses gets the
   * check extended, up to `hardDeadline`.
   */
  @IsISO8601({ strict: true })
  deadline!: string;

  /** Past this the image is retried whatever the worker says (absent: `deadline` is the limit). */
  @IsOptional()
  @IsISO8601({ strict: true })
  hardDeadline?: string;

  /** Carried from the launch message, so that a re-queue keeps the count. */
  @HandBackCount()
  handBacks?: number;

  /**
   * The worker process that took the image (its heartbeat's `session`): a heartbeat
   * of another session on the same instance means the process that held it is gone.
   */
  @OptionalSession()
  session?: string;

  /**
   * Checks of this take in a row that failed on a transient error (S3, SQS or EC2
   * briefly unavailable or throttling): sets the back-off of the next check, and
   * never counts toward a give-up.
   */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100_000)
  checkFailures?: number;

  /** Carried from the launch message, so that a re-queue stays the tenant's (its MessageGroupId). */
  @IsOptional()
  @Matches(TENANT_PATTERN, { message: 'tenant must be 1-64 letters, digits, "_" or "-"' })
  tenant?: string;
}

/** One take of an image a worker holds, handed back or failed. */
export class HeldImage {
  @IsUUID('4')
  imageId!: string;

  @IsInt()
  @Min(1)
  @Max(100)
  attempt!: number;

  /**
   * The take's hand-back count (its launch message's): a worker may claim again an image it
   * handed back, and that new take must not be mistaken for the one handed back.
   */
  @HandBackCount()
  handBacks?: number;
}

/** A heartbeat's list of takes: at most 1000, each one checked. */
const HeldImageList = () => allOf(IsArray(), ArrayMaxSize(1000), ValidateNested({ each: true }), Type(() => HeldImage));

/**
 * classifier-worker → output bucket (`heartbeats/<workerId>.json`), rewritten
 * every few seconds while the worker holds images: the monitor controller reads
 * it to tell a worker that progresses from a hung one, and which images a
 * worker has handed back or given up on.
 */
export class Heartbeat {
  @Equals(SCHEMA_VERSION)
  v!: typeof SCHEMA_VERSION;

  @Equals('heartbeat')
  type!: 'heartbeat';

  @Matches(WORKER_ID_PATTERN, { message: 'workerId must be 1-64 of [A-Za-z0-9._:-]' })
  workerId!: string;

  /** When this heartbeat was written (the worker's clock). */
  @IsISO8601({ strict: true })
  at!: string;

  /** The last time any image of this worker moved on a stage (read, decoded, classified, published). */
  @IsISO8601({ strict: true })
  progressAt!: string;

  @IsInt()
  @Min(0)
  imagesDone!: number;

  @HeldImageList()
  held!: HeldImage[];

  /** Recently handed back to the launch queue (same attempt): the monitor's check for them ends. */
  @HeldImageList()
  handedBack!: HeldImage[];

  /**
   * Dropped after a failure that is not the image's fault: the monitor retries them now.
   * Listed until the monitor has acted (a later attempt queued, or an answer written).
   */
  @HeldImageList()
  failed!: HeldImage[];

  /**
   * A random id per worker process start. A process restarted on the same instance
   * writes a new one: what an older session held and this one does not is lost.
   */
  @OptionalSession()
  session?: string;

  /** The session's last heartbeat, written as it stopped: every take not listed here was finished. */
  @IsOptional()
  @IsBoolean()
  final?: boolean;
}

export class Prediction {
  @IsString()
  @MaxLength(200)
  label!: string;

  @IsInt()
  @Min(0)
  classIndex!: number;

  @IsNumber()
  @Min(0)
  @Max(1)
  confidence!: number;
}

export class Timings {
  @IsOptional() @IsNumber() @Min(0) queueMs?: number;
  @IsOptional() @IsNumber() @Min(0) downloadMs?: number;
  @IsOptional() @IsNumber() @Min(0) decodeMs?: number;
  @IsOptional() @IsNumber() @Min(0) inferenceMs?: number;
  @IsOptional() @IsNumber() @Min(0) totalMs?: number;
}

abstract class OutputBase extends ImageRef {
  @Equals('output')
  type!: 'output';

  /** Who produced the result: a worker id, or `monitor-controller` for a give-up. */
  @IsString()
  @MaxLength(64)
  producedBy!: string;

  @IsISO8601({ strict: true })
  completedAt!: string;
}

/** A classified image. */
export class OutputSuccess extends OutputBase {
  @Equals('ok')
  status!: 'ok';

  @IsString()
  @MaxLength(200)
  label!: string;

  @IsNumber()
  @Min(0)
  @Max(1)
  confidence!: number;

  @IsArray()
  @ArrayMaxSize(10)
  @ValidateNested({ each: true })
  @Type(() => Prediction)
  top5!: Prediction[];

  @ValidateNested()
  @Type(() => Timings)
  timings!: Timings;

  @IsOptional() @IsString() @MaxLength(64) backend?: string;
  @IsOptional() @IsString() @MaxLength(200) model?: string;
}

/** An image that could not be classified. */
export class OutputError extends OutputBase {
  @Equals('error')
  status!: 'error';

  @IsString()
  @MinLength(1)
  @MaxLength(1000)
  reason!: string;

  /** True when retrying cannot help (e.g. undecodable bytes); false for a give-up after retries. */
  @IsBoolean()
  permanent!: boolean;
}

export type OutputMessage = OutputSuccess | OutputError;
