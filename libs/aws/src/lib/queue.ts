import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { call } from './errors';
import { QueueRequests } from './queue-requests';

/** SQS takes at most ten entries per batch call. */
export const SQS_BATCH_LIMIT = 10;
/**
 * The room a consumer holding at most `limit` messages gathers before it receives: a
 * quarter of its budget, at least one, at most a receive's ten. At half (10 of a budget
 * of 20) a worker's images held fell to ten before each receive and its model ran out
 * between receives: bench:classifier (onnx, in turns, 2026-12-04) ratio 0.91-0.96 at a
 * quarter against 0.82-0.87 at half, with as many receives per image (0.12-0.13).
 */
export function receiveShare(limit: number): number {
  return Math.min(SQS_BATCH_LIMIT, Math.max(1, Math.floor(limit / 4)));
}

/** How long a worker with room for one waits for more before it receives anyway (see ReceiveGate), ms. */
export const RECEIVE_GATHER_MS = 200;

/** SQS delays stop at 15 minutes. */
export const SQS_MAX_DELAY_SECONDS = 900;

export interface ReceivedMessage {
  messageId: string;
  body: string;
  receiptHandle: string;
  /** How many times this message has been received, this time included. */
  receiveCount: number;
  sentAt?: Date;
  /** The tenant it was sent for, on a fair queue. */
  messageGroupId?: string;
}

export interface ReceiveOptions {
  maxMessages?: number;
  /** Long poll: wait up to this many seconds for a message (0..20). */
  waitSeconds?: number;
  visibilityTimeoutSeconds?: number;
  abortSignal?: AbortSignal;
}

export interface BatchEntry {
  /** Unique in the batch: [A-Za-z0-9_-]{1,80}. */
  id: string;
  body: string;
  delaySeconds?: number;
  /** The tenant, on a fair queue (see Queue.send). */
  messageGroupId?: string;
}

export interface BatchFailure {
  id: string;
  code: string;
  message: string;
  senderFault: boolean;
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface QueueOptions {
  /**
   * local-aws-sqs counts in-flight messages in ApproximateNumberOfMessages;
   * real SQS does not. When set, depth() subtracts them so both read the same.
   */
  visibleCountIncludesInFlight?: boolean;
  /** Where SQS redrives this queue's messages (and where a consumer forwards one it can never read). */
  deadLetterQueue?: Queue;
}

/** What a health check needs of a consumer of a queue (QueueConsumer implements it). */
export interface QueueConsumerHealth {
  readonly name: string;
  health(unhealthyAfterMs: number, now?: number): { healthy: boolean; reason?: string };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * One SQS queue. The per-image calls (send and delete in batches, receive) go
 * through QueueRequests (the client's parts without its command stack); the
 * others are SDK commands.
 */
export class Queue {
  /** The consumers started on this queue in this process, so that /health can ask each how it is. */
  readonly consumers = new Set<QueueConsumerHealth>();
  private readonly requests: QueueRequests;

  constructor(
    private readonly sqs: SQSClient,
    readonly url: string,
    private readonly options: QueueOptions = {},
  ) {
    this.requests = QueueRequests.of(sqs);
  }

  get deadLetterQueue(): Queue | undefined {
    return this.options.deadLetterQueue;
  }

  /**
   * Sends one message; returns its id. `messageGroupId` names the tenant on a
   * fair queue (a standard queue whose messages carry it): SQS then keeps one
   * tenant's backlog from delaying another's messages.
   */
  async send(body: string, delaySeconds?: number, messageGroupId?: string): Promise<string> {
    const out = await call('sqs.SendMessage', () =>
      this.sqs.send(
        new SendMessageCommand({ QueueUrl: this.url, MessageBody: body, DelaySeconds: delaySeconds, MessageGroupId: messageGroupId }),
      ),
    );
    return out.MessageId ?? '';
  }

  /** Sends any number of messages in calls of ten; returns the entries SQS refused. */
  async sendBatch(entries: BatchEntry[]): Promise<BatchFailure[]> {
    const failures: BatchFailure[] = [];
    for (const chunk of chunks(entries, SQS_BATCH_LIMIT)) {
      const out = await this.requests.sendMessageBatch({
        QueueUrl: this.url,
        Entries: chunk.map((e) => ({ Id: e.id, MessageBody: e.body, DelaySeconds: e.delaySeconds, MessageGroupId: e.messageGroupId })),
      });
      for (const f of out.Failed ?? []) {
        failures.push({
          id: f.Id ?? '',
          code: f.Code ?? 'Unknown',
          message: f.Message ?? '',
          senderFault: f.SenderFault ?? false,
        });
      }
    }
    return failures;
  }

  /**
   * Receives up to `maxMessages`, waiting up to `waitSeconds` for the first.
   *
   * Real SQS (and the local edge) answer a long poll as soon as any message is there; local-aws-sqs
   * alone waits until it has `maxMessages` or the wait ends. So a batch is taken with
   * a short poll first, and only an empty queue is long-polled, for one message:
   * the same result on both, and no waiting while messages are available.
   */
  async receive(options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const max = Math.min(options.maxMessages ?? 1, SQS_BATCH_LIMIT);
    const wait = options.waitSeconds ?? 0;
    if (max > 1 && wait > 0) {
      const now = await this.receiveOnce(max, 0, options);
      if (now.length > 0) return now;
      return this.receiveOnce(1, wait, options);
    }
    return this.receiveOnce(max, wait, options);
  }

  private async receiveOnce(max: number, wait: number, options: ReceiveOptions): Promise<ReceivedMessage[]> {
    const out = await this.requests.receiveMessage(
      {
        QueueUrl: this.url,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: wait,
        VisibilityTimeout: options.visibilityTimeoutSeconds,
        // local-aws-sqs returns ApproximateReceiveCount only for the older
        // AttributeNames; real SQS takes either. Ask with both.
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'],
      },
      options.abortSignal,
    );
    return (out.Messages ?? []).map(toReceived);
  }

  async delete(receiptHandle: string): Promise<void> {
    await call('sqs.DeleteMessage', () =>
      this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle })),
    );
  }

  /** Deletes in calls of ten; returns the receipt handles SQS could not delete. */
  async deleteBatch(receiptHandles: string[]): Promise<BatchFailure[]> {
    const failures: BatchFailure[] = [];
    for (const chunk of chunks(receiptHandles, SQS_BATCH_LIMIT)) {
      const out = await this.requests.deleteMessageBatch({
        QueueUrl: this.url,
        Entries: chunk.map((h, i) => ({ Id: String(i), ReceiptHandle: h })),
      });
      for (const f of out.Failed ?? []) {
        failures.push({
          id: chunk[Number(f.Id)] ?? f.Id ?? '',
          code: f.Code ?? 'Unknown',
          message: f.Message ?? '',
          senderFault: f.SenderFault ?? false,
        });
      }
    }
    return failures;
  }

  /**
   * Hides (or, with 0, releases) a received message. Note: local-aws-sqs counts
   * this as a receive toward the dead-letter maxReceiveCount; real SQS does not.
   */
  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await call('sqs.ChangeMessageVisibility', () =>
      this.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.url,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      ),
    );
  }

  /** Approximate counts: waiting, received but not deleted, and delayed. */
  async depth(): Promise<QueueDepth> {
    const out = await call('sqs.GetQueueAttributes', () =>
      this.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.url,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'ApproximateNumberOfMessagesDelayed',
          ],
        }),
      ),
    );
    const a = out.Attributes ?? {};
    const inFlight = Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
    const delayed = Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
    let visible = Number(a.ApproximateNumberOfMessages ?? 0);
    if (this.options.visibleCountIncludesInFlight) visible = Math.max(0, visible - inFlight);
    return { visible, inFlight, delayed };
  }
}

function toReceived(m: Message): ReceivedMessage {
  const attrs = m.Attributes ?? {};
  const sent = attrs.SentTimestamp;
  return {
    messageId: m.MessageId ?? '',
    body: m.Body ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    receiveCount: Number(attrs.ApproximateReceiveCount ?? 1),
    sentAt: sent ? new Date(Number(sent)) : undefined,
    ...(attrs.MessageGroupId ? { messageGroupId: attrs.MessageGroupId } : {}),
  };
}
