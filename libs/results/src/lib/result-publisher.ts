import { NotFoundError, type MessageSink, type ObjectStore } from '@app/aws';
import { parseOutputMessage, resultKey, serialize, type OutputMessage } from '@app/contracts';
import { BatchSender } from './batch-sender';

export interface PublishOutcome {
  /** The image's one answer: ours, or the one written before it. */
  result: OutputMessage;
  /** True when ours was the first written. */
  won: boolean;
}

/**
 * What `announceFound` did. 'unreadable': a stored result that is not a valid
 * result (hand-edited, truncated): it holds the image's key, so nothing else
 * can become the answer, and nothing can be announced (logged by the caller).
 */
export type FoundOutcome = 'missing' | 'announced-before' | 'announced-now' | 'unreadable';

/** The stored result of an image is not a result (hand-edited, truncated): nothing can be announced. */
export class StoredResultInvalidError extends Error {
  override readonly name = 'StoredResultInvalidError';
  constructor(
    readonly imageId: string,
    reason: string,
  ) {
    super(`stored result of ${imageId} is not a valid result: ${reason}`);
  }
}

export interface ResultPublisherOptions {
  /** Send output messages in batches (the worker: many results at once); default: one call each. */
  batch?: boolean;
  /** With `batch`: how long an output message waits for others to share its call, ms (default 0). */
  lingerMs?: number;
  /** With `lingerMs`: whether more results may come to share the call (BatchOptions.expectMore). */
  expectMore?: (held: number) => boolean;
}

/**
 * The one way a result becomes an answer, for the worker and the monitor
 * controller alike:
 *
 *   1. write the result under the image id, only if none is there (S3
 *      conditional put, If-None-Match: *): the first result written wins;
 *   2. announce the winner on the output topic, or the output queue when no
 *      topic is configured (ours, or the one already there: a late loser
 *      repeats the winner, it never contradicts it).
 *
 * A crash between 1 and 2 leaves a result nobody announced; whoever finds a
 * result it cannot tell was announced announces it (`announceFound`), at worst
 * a second announcement of the same answer, which consumers drop by image id.
 * No per-image record says "announced": the monitor tells from the worker's
 * heartbeat whether the worker that held the image finished it (see
 * DeadlineMonitor), and web tiers look up results they waited long for.
 */
export class ResultPublisher {
  private readonly sender?: BatchSender;

  constructor(
    private readonly bucket: ObjectStore,
    /** The results topic, or the output queue (AwsResources.resultAnnouncements). */
    private readonly announcements: MessageSink,
    options: ResultPublisherOptions = {},
  ) {
    if (options.batch) this.sender = new BatchSender(announcements, { lingerMs: options.lingerMs, expectMore: options.expectMore });
  }

  /**
   * `messageGroupId` (the image's tenant) goes with the announcement: on a fair
   * queue, or a topic's subscribed queues, another tenant's results then do
   * not wait behind a busy tenant's (announcements sent in batches, as the
   * workers send them, carry it).
   */
  async publish(result: OutputMessage, messageGroupId?: string): Promise<PublishOutcome> {
    const json = serialize(result);
    // Two tries: the one there may be deleted between our refused put and our read of it.
    for (let tries = 1; ; tries++) {
      const won = (await this.bucket.putIfAbsent(resultKey(result.imageId), json, { contentType: 'application/json' })) === 'created';
      const winner = won ? result : await this.stored(result.imageId);
      if (winner) {
        await this.announce(winner, messageGroupId);
        return { result: winner, won };
      }
      if (tries >= 2) throw new Error(`result of ${result.imageId}: refused as present, then not found`);
    }
  }

  /**
   * Announces the stored result of an image, unless `announcedBefore` (asked only
   * when there is one) says its writer surely did; says which.
   */
  async announceFound(imageId: string, announcedBefore?: (result: OutputMessage) => boolean | Promise<boolean>): Promise<FoundOutcome> {
    let stored: OutputMessage | undefined;
    try {
      stored = await this.stored(imageId);
    } catch (err) {
      if (err instanceof StoredResultInvalidError) return 'unreadable';
      throw err;
    }
    if (!stored) return 'missing';
    if (announcedBefore && (await announcedBefore(stored))) return 'announced-before';
    await this.announce(stored);
    return 'announced-now';
  }

  /** Resolves when no batched output message is pending. */
  async idle(): Promise<void> {
    await this.sender?.idle();
  }

  private async announce(result: OutputMessage, messageGroupId?: string): Promise<void> {
    const json = serialize(result);
    if (this.sender) await this.sender.send(json, undefined, messageGroupId);
    else await this.announcements.send(json);
  }

  private async stored(imageId: string): Promise<OutputMessage | undefined> {
    let body: Buffer;
    try {
      body = await this.bucket.getBuffer(resultKey(imageId));
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    try {
      return parseOutputMessage(body.toString('utf8'));
    } catch (err) {
      throw new StoredResultInvalidError(imageId, (err as Error).message);
    }
  }
}
