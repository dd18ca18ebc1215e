import type { LoggerService } from '@nestjs/common';
import { SQS_BATCH_LIMIT, type Queue, type ReceivedMessage } from './queue';

/** created → running ⇄ backing-off → stopping → stopped */
export type ConsumerState = 'created' | 'running' | 'backing-off' | 'stopping' | 'stopped';

/** Given to a handler: settle the message early (e.g. delete it once claimed, then keep working). */
export interface MessageContext {
  /** Deletes the message now; the consumer then neither extends its visibility nor deletes it again. */
  ack(): Promise<void>;
  /**
   * Gives the message back without handling it: visible again after `visibilitySeconds`
   * (default 0: at once, for another consumer); the consumer then does not delete it.
   * Note: local-aws-sqs counts this as a receive toward the dead-letter maxReceiveCount.
   */
  release(visibilitySeconds?: number): Promise<void>;
}

export type MessageHandler<T> = (message: ReceivedMessage, context: MessageContext) => Promise<T>;

export interface ConsumerStatus {
  state: ConsumerState;
  /** Handlers running now. */
  inFlight: number;
  handled: number;
  failed: number;
  /** Handlers that held their message past handlerTimeoutSeconds: let go of, their messages visible again. */
  abandoned: number;
  /** Since when receives have been failing (undefined while they succeed). */
  failingSince?: Date;
  lastError?: string;
  /** Last completed receive or handler: a loop that makes none is stuck. */
  lastProgressAt?: Date;
}

/** SQS's longest long poll and longest visibility timeout (also the longest a message can stay hidden after one receive). */
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 43_200;
/** How long a handler may hold its message unsettled when the caller does not say (above one SDK call's worst case: 4 tries of 30 s). */
export const DEFAULT_HANDLER_TIMEOUT_SECONDS = 180;

export interface QueueConsumerOptions<T> {
  queue: Queue;
  /** Resolves: the message is deleted (unless deleteAfterHandling is false). Throws: it stays for redelivery. */
  handleMessage: MessageHandler<T>;
  /** In log lines; default: the queue's name. */
  name?: string;
  /** Messages per receive, 1..10 (default 10). */
  batchSize?: number;
  /** Handlers running at once, ≥ batchSize (default batchSize): no receive until there is room. */
  maxInFlight?: number;
  /** Long-poll wait, 0..20 s (default 20). */
  waitSeconds?: number;
  /** Visibility timeout asked for on receive (default: the queue's, unknown here: then no heartbeats). */
  visibilityTimeoutSeconds?: number;
  /**
   * While a handler holds its message, extend the message's visibility to
   * visibilityTimeoutSeconds every this many seconds (less than the timeout), so
   * that no one else receives it however long the handler takes. Default: half
   * the visibility timeout (none below 2 s); 0: no heartbeats. Note: local-aws-sqs
   * counts each extension as a receive toward the dead-letter maxReceiveCount;
   * real SQS does not.
   */
  heartbeatSeconds?: number;
  /**
   * Longest a handler may hold its message without settling it (resolving,
   * throwing, ack or release). Past it the handler is abandoned: logged, its
   * heartbeats stopped, its message made visible again at once for another
   * receive, its place freed; whatever it does later no longer touches the
   * message. Without heartbeats it must be below visibilityTimeoutSeconds, so
   * that a handler never runs on while its message is handled again. Default 180.
   */
  handlerTimeoutSeconds?: number;
  /** Delete each message once its handler resolves (default true); false: the handler acks itself. */
  deleteAfterHandling?: boolean;
  /** Pause after a failed receive: doubles from initialMs up to maxMs (defaults 250 and 5,000: back within 5 s of an outage's end). */
  backoff?: { initialMs?: number; maxMs?: number };
  logger?: LoggerService;
}

/** How long a message stays hidden, how often that is renewed, and how long a handler may hold it. */
export interface HoldTiming {
  visibilityTimeoutSeconds?: number;
  /** 0: no heartbeats. */
  heartbeatSeconds: number;
  handlerTimeoutSeconds: number;
}

/** The timing a consumer runs with: the options given, and the defaults for what they leave out. */
export function holdTiming<T>(o: QueueConsumerOptions<T>): HoldTiming {
  const visibility = o.visibilityTimeoutSeconds;
  const heartbeatByDefault = visibility !== undefined && visibility >= 2 ? Math.floor(visibility / 2) : 0;
  return {
    visibilityTimeoutSeconds: visibility,
    heartbeatSeconds: o.heartbeatSeconds ?? heartbeatByDefault,
    handlerTimeoutSeconds: o.handlerTimeoutSeconds ?? DEFAULT_HANDLER_TIMEOUT_SECONDS,
  };
}

export interface ConsumerHealth {
  healthy: boolean;
  reason?: string;
  status: ConsumerStatus;
}

/** Invalid consumer options: names every option at fault. */
export class ConsumerOptionsError extends Error {
  override readonly name = 'ConsumerOptionsError';
  constructor(readonly problems: string[]) {
    super(`invalid QueueConsumer options: ${problems.join('; ')}`);
  }
}

/** Validates options up front, so a misconfigured consumer fails at construction, not on its first message. */
export function checkConsumerOptions<T>(o: QueueConsumerOptions<T>): void {
  const problems: string[] = [];
  const int = (name: string, v: number | undefined, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got ${v})`);
    }
  };
  if (!o.queue || typeof o.queue.receive !== 'function') problems.push('queue must be a Queue');
  if (typeof o.handleMessage !== 'function') problems.push('handleMessage must be a function');
  int('batchSize', o.batchSize, 1, SQS_BATCH_LIMIT);
  int('maxInFlight', o.maxInFlight, 1, 10_000);
  if (o.maxInFlight !== undefined && o.maxInFlight < (o.batchSize ?? SQS_BATCH_LIMIT)) {
    problems.push(`maxInFlight (${o.maxInFlight}) must be at least batchSize (${o.batchSize ?? SQS_BATCH_LIMIT})`);
  }
  int('waitSeconds', o.waitSeconds, 0, MAX_WAIT_SECONDS);
  int('visibilityTimeoutSeconds', o.visibilityTimeoutSeconds, 0, MAX_VISIBILITY_SECONDS);
  int('heartbeatSeconds', o.heartbeatSeconds, 0, MAX_VISIBILITY_SECONDS);
  int('handlerTimeoutSeconds', o.handlerTimeoutSeconds, 1, MAX_VISIBILITY_SECONDS);
  if (problems.length === 0) problems.push(...timingProblems(holdTiming(o), o.handlerTimeoutSeconds === undefined));
  const b = o.backoff;
  int('backoff.initialMs', b?.initialMs, 1, 3_600_000);
  int('backoff.maxMs', b?.maxMs, 1, 3_600_000);
  if (b?.initialMs !== undefined && b.maxMs !== undefined && b.initialMs > b.maxMs) {
    problems.push(`backoff.initialMs (${b.initialMs}) must not exceed backoff.maxMs (${b.maxMs})`);
  }
  if (problems.length > 0) throw new ConsumerOptionsError(problems);
}

/** A handler that outlives its message's visibility would run on while the message is handled again. */
function timingProblems(t: HoldTiming, defaultTimeout: boolean): string[] {
  const { visibilityTimeoutSeconds: visibility, heartbeatSeconds: heartbeat, handlerTimeoutSeconds: timeout } = t;
  const named = `handlerTimeoutSeconds (${timeout}${defaultTimeout ? ', the default' : ''})`;
  if (heartbeat > 0) {
    if (visibility === undefined) return ['heartbeatSeconds needs visibilityTimeoutSeconds (the timeout each heartbeat sets)'];
    if (heartbeat >= visibility) return [`heartbeatSeconds (${heartbeat}) must be less than visibilityTimeoutSeconds (${visibility})`];
    // SQS keeps a message hidden at most 12 h after its receive, heartbeats or not.
    if (timeout + visibility > MAX_VISIBILITY_SECONDS) return [`${named} plus visibilityTimeoutSeconds (${visibility}) must not exceed ${MAX_VISIBILITY_SECONDS}`];
    return [];
  }
  if (visibility !== undefined && timeout >= visibility) {
    return [`${named} must be less than visibilityTimeoutSeconds (${visibility}) without heartbeats`];
  }
  return [];
}
