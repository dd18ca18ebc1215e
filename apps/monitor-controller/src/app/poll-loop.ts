import type { Logger } from '@nestjs/common';
import { QueueConsumer, type Queue, type ReceivedMessage } from '@app/aws';

/** How long a received message stays hidden (renewed while handled), and how long its handler may hold it. */
export interface PollLoopOptions {
  waitSeconds?: number;
  visibilityTimeoutSeconds?: number;
  handlerTimeoutSeconds?: number;
}

/** The outcome a handler returns for a message it can never read. */
export const MALFORMED = 'malformed';

/**
 * Feeds one queue's messages to a handler of their bodies, over the shared
 * QueueConsumer (long poll, back-off that never dies, stop() that drains):
 *
 * - the handler resolves with an outcome: the message is deleted;
 * - it resolves `malformed` (it can never be read): the message is forwarded to
 *   the queue's dead-letter queue, logged there for a person, then deleted;
 * - it throws: the message stays, SQS delivers it again, and after the queue's
 *   maxReceiveCount moves it to the dead-letter queue. No crash loop either way.
 */
export class PollLoop {
  readonly consumer: QueueConsumer<string>;

  constructor(
    private readonly queue: Queue,
    private readonly handle: (body: string) => Promise<string>,
    private readonly logger: Logger,
    onHandled: (outcome: string) => void = () => undefined,
    options: PollLoopOptions = {},
  ) {
    this.consumer = new QueueConsumer<string>({
      queue,
      handleMessage: (m) => this.settle(m),
      batchSize: 10,
      waitSeconds: options.waitSeconds ?? 20,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
      handlerTimeoutSeconds: options.handlerTimeoutSeconds,
      logger,
    });
    this.consumer.on('message_handled', (_m, outcome) => onHandled(outcome));
  }

  start(): void {
    this.consumer.start();
  }

  /** Ends the poll and waits for the messages being handled. */
  stop(): Promise<void> {
    return this.consumer.stop();
  }

  /** Handles one received message as the loop does: deleted when handled, left for redelivery (undefined) when not. */
  async process(m: ReceivedMessage): Promise<string | undefined> {
    try {
      const outcome = await this.settle(m);
      await this.queue.delete(m.receiptHandle);
      return outcome;
    } catch (err) {
      this.logger.error(`message ${m.messageId} from ${this.queue.url} failed, it will be redelivered: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async settle(m: ReceivedMessage): Promise<string> {
    const outcome = await this.handle(m.body);
    const dlq = this.queue.deadLetterQueue;
    if (outcome === MALFORMED && dlq) {
      // Sent before the delete: a crash in between leaves it in both places, never in neither.
      await dlq.send(m.body);
      this.logger.warn(`malformed message ${m.messageId} moved to the dead-letter queue ${dlq.url}`);
    }
    return outcome;
  }
}
