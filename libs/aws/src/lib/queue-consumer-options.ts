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
  /** Since when receives have been failing (undefined while they succeed). */
  failingSince?: Date;
  lastError?: string;
  /** Last completed receive or handler: a loop that makes none is stuck. */
  lastProgressAt?: Date;
}

/** SQS's longest long poll and longest visibility timeout. */
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 43_200;

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
  /** Visibility timeout asked for on receive (default: the queue's). */
  visibilityTimeoutSeconds?: number;
  /**
   * While a handler runs, extend its message's visibility to visibilityTimeoutSeconds
   * every this many seconds (less than the timeout). Note: local-aws-sqs counts each
   * extension as a receive toward the dead-letter maxReceiveCount; real SQS does not.
   */
  heartbeatSeconds?: number;
  /** Delete each message once its handler resolves (default true); false: the handler acks itself. */
  deleteAfterHandling?: boolean;
  /** Pause after a failed receive: doubles from initialMs up to maxMs (defaults 250 and 5,000: back within 5 s of an outage's end). */
  backoff?: { initialMs?: number; maxMs?: number };
  logger?: LoggerService;
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
  int('heartbeatSeconds', o.heartbeatSeconds, 1, MAX_VISIBILITY_SECONDS);
  if (o.heartbeatSeconds !== undefined) {
    if (o.visibilityTimeoutSeconds === undefined) problems.push('heartbeatSeconds needs visibilityTimeoutSeconds (the timeout each heartbeat sets)');
    else if (o.heartbeatSeconds >= o.visibilityTimeoutSeconds) {
      problems.push(`heartbeatSeconds (${o.heartbeatSeconds}) must be less than visibilityTimeoutSeconds (${o.visibilityTimeoutSeconds})`);
    }
  }
  const b = o.backoff;
  int('backoff.initialMs', b?.initialMs, 1, 3_600_000);
  int('backoff.maxMs', b?.maxMs, 1, 3_600_000);
  if (b?.initialMs !== undefined && b.maxMs !== undefined && b.initialMs > b.maxMs) {
    problems.push(`backoff.initialMs (${b.initialMs}) must not exceed backoff.maxMs (${b.maxMs})`);
  }
  if (problems.length > 0) throw new ConsumerOptionsError(problems);
}
