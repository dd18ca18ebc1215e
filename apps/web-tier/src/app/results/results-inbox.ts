import { randomBytes } from 'node:crypto';
import { Logger, type Provider } from '@nestjs/common';
import { createTimeout, type CreateTimeoutOptions } from 'retry';
import { AwsAdapterError, AwsResources, type Queue, type SubscribedQueue } from '@app/aws';
import { AppConfig } from '@app/config';

/**
 * How long a result waits in a tier's queue, seconds: what a tier that died
 * leaves there expires, and a tier that stalled longer still finds its
 * waiters' results in the output bucket (the result re-check).
 */
export const TIER_QUEUE_RETENTION_SECONDS = 600;
/** A tier says it is alive this often (its queue's last-seen tag), and sweeps queues that dead tiers left. */
const TOUCH_SECONDS = 60;
/** A tier queue not touched for this long belongs to a tier that is gone; any tier removes it. */
const ABANDONED_AFTER_SECONDS = 15 * 60;
/**
 * Between tries to open this tier's queue while SQS or SNS is unreachable or failing: 1 s doubling
 * (randomised) up to 30 s, for as long as it lasts. Exiting instead left the restarts to the
 * supervisor, whose start limit gives up during a long outage.
 */
export const OPEN_BACKOFF: CreateTimeoutOptions = { factor: 2, minTimeout: 1000, maxTimeout: 30_000, randomize: true };

/**
 * Where this web tier hears results. With a results topic (OUTPUT_TOPIC_ARN)
 * every tier hears every result, through a queue of its own subscribed to the
 * topic: created at start under WEB_TIER_QUEUE_PREFIX and a random id (so any
 * number of tiers can run with the same environment), removed at stop. A
 * tier that dies without removing it is swept by another tier once its
 * last-seen tag is old; until then the retention bounds what it holds.
 * Without a topic, the one output queue (which one tier alone should read).
 */
export class ResultsInbox {
  private readonly logger = new Logger(ResultsInbox.name);
  private timer?: NodeJS.Timeout;
  private closed?: Promise<void>;
  private sweeping?: Promise<void>;

  private constructor(
    readonly queue: Queue,
    private readonly aws: AwsResources,
    private readonly prefix: string,
    private readonly own?: SubscribedQueue,
  ) {}

  static async open(aws: AwsResources, config: AppConfig): Promise<ResultsInbox> {
    if (!aws.outputTopic) return new ResultsInbox(aws.outputQueue, aws, config.web.tierQueuePrefix);
    // One name for every try: creating and subscribing are idempotent, so a try that failed half-way leaves nothing extra.
    const name = `${config.web.tierQueuePrefix}${randomBytes(8).toString('hex')}`;
    const logger = new Logger(ResultsInbox.name);
    let own: SubscribedQueue | undefined;
    for (let attempt = 0; !own; attempt++) {
      try {
        own = await aws.subscribeToResults({ name, retentionSeconds: TIER_QUEUE_RETENTION_SECONDS });
      } catch (err) {
        if (!(err instanceof AwsAdapterError && err.retryable)) throw err;
        const waitMs = createTimeout(attempt, OPEN_BACKOFF);
        logger.warn(`could not open this tier's results queue ${name} (trying again in ${(waitMs / 1000).toFixed(1)} s): ${err.message}`);
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
    const inbox = new ResultsInbox(own.queue, aws, config.web.tierQueuePrefix, own);
    inbox.logger.log(`hearing results of ${aws.outputTopic.arn} on this tier's queue ${name}`);
    inbox.keepAlive();
    return inbox;
  }

  /** True when this tier has a queue of its own (results topic), false on the shared output queue. */
  get ownQueue(): boolean {
    return this.own !== undefined;
  }

  /** Unsubscribes and deletes this tier's queue (once; after its consumer has stopped). */
  close(): Promise<void> {
    clearInterval(this.timer);
    this.closed ??= (async () => {
      await this.sweeping;
      await this.own?.remove().catch((err: unknown) => this.logger.warn(`could not remove this tier's queue (it expires unused): ${(err as Error).message}`));
    })();
    return this.closed;
  }

  private keepAlive(): void {
    this.sweeping = this.sweep();
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = (async () => {
        try {
          await this.own?.touch();
        } catch (err) {
          this.logger.warn(`could not mark this tier's queue as alive: ${(err as Error).message}`);
        }
        await this.sweep();
      })();
    }, TOUCH_SECONDS * 1000);
    this.timer.unref();
  }

  /** One sweep; never throws (a failure is logged and the next round tries again). */
  private async sweep(): Promise<void> {
    try {
      const removed = await this.aws.sweepResultQueues({ prefix: this.prefix, abandonedAfterSeconds: ABANDONED_AFTER_SECONDS, keepArn: this.own?.queueArn });
      for (const arn of removed) this.logger.log(`removed the queue of a web tier that is gone: ${arn}`);
    } catch (err) {
      this.logger.warn(`sweep of abandoned tier queues failed (tried again in ${TOUCH_SECONDS} s): ${(err as Error).message}`);
    } finally {
      this.sweeping = undefined;
    }
  }
}

/** The Nest provider: the inbox is opened (its queue created and subscribed) before the consumer is built. */
export const resultsInboxProvider: Provider = {
  provide: ResultsInbox,
  useFactory: (aws: AwsResources, config: AppConfig) => ResultsInbox.open(aws, config),
  inject: [AwsResources, AppConfig],
};
