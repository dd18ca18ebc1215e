import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { QueueConsumer, type ReceivedMessage } from '@app/aws';
import { AppConfig } from '@app/config';
import { MessageParseError, parseOutputMessage } from '@app/contracts';
import { MetricsService } from '../ops/metrics.service';
import { confirmAgainstStored } from './result-confirmation';
import { ResultsInbox } from './results-inbox';
import { ResultsService } from './results.service';
import { ResultsStore } from './results.store';

/**
 * How long a received result stays hidden from other receives. Handling takes
 * milliseconds; a short timeout brings back soon a message lost with an
 * aborted poll (at shutdown) or a failed delete.
 */
const VISIBILITY_SECONDS = 10;

export type OutputOutcome = 'applied' | 'duplicate' | 'invalid' | 'not-stored';

/**
 * Consumes this tier's results queue (see ResultsInbox: its own queue on the
 * results topic, or the output queue) over the shared QueueConsumer (long poll,
 * back-off that never dies, stop() that drains): each result goes into the ResultsStore
 * (which pushes it to waiting requests and streams), then its message is
 * deleted. A duplicate is applied once and deleted; a malformed message can
 * never be read, so it is logged and deleted rather than retried forever.
 * A new result is confirmed against the output bucket before it is served
 * (result-confirmation.ts): the stored result is the answer, whatever the
 * message says; a failed read leaves the message for a later receive.
 */
@Injectable()
export class OutputConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutputConsumer.name);
  /** Public for /health: `consumer.health(ms)`. */
  readonly consumer: QueueConsumer<OutputOutcome>;

  constructor(
    private readonly inbox: ResultsInbox,
    private readonly store: ResultsStore,
    private readonly metrics: MetricsService,
    config: AppConfig,
    private readonly results: ResultsService,
  ) {
    this.consumer = new QueueConsumer<OutputOutcome>({
      queue: inbox.queue,
      handleMessage: async (m) => this.apply(m),
      batchSize: 10,
      // Each result is checked against the bucket before it is served (a read that a busy edge slows): with
      // only one receive's worth in flight, a quiet tenant's result waited for a slot behind a busy tenant's.
      maxInFlight: 40,
      waitSeconds: config.web.outputPollSeconds,
      visibilityTimeoutSeconds: VISIBILITY_SECONDS,
      handlerTimeoutSeconds: config.consumerHandlerTimeoutSeconds,
      logger: this.logger,
    });
  }

  onApplicationBootstrap(): void {
    this.consumer.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Release held requests and streams first: the HTTP server waits for them.
    this.store.shutdown();
    await this.consumer.stop();
    // Only once nothing reads it: a tier's own queue is unsubscribed and deleted.
    await this.inbox.close();
  }

  /** Applies one output message to the store; the consumer deletes it afterwards. */
  async apply(m: ReceivedMessage): Promise<OutputOutcome> {
    let announced;
    try {
      announced = parseOutputMessage(m.body);
    } catch (err) {
      if (!(err instanceof MessageParseError)) throw err;
      this.metrics.results.inc({ status: 'invalid' });
      this.logger.error(`dropping an unreadable output message ${m.messageId}: ${err.message}`);
      return 'invalid';
    }
    // Answered here already: nothing to read, nothing changes.
    const known = this.store.image(announced.imageId);
    if (known && known.status !== 'queued') {
      this.metrics.results.inc({ status: 'duplicate' });
      return 'duplicate';
    }
    // A transient S3 error throws: the message comes back later, never a wrong answer now.
    const confirmation = confirmAgainstStored(announced, await this.results.readStoredResult(announced.imageId));
    if (confirmation.verdict === 'not-stored') {
      this.metrics.results.inc({ status: 'not_stored' });
      this.logger.warn(`image ${announced.imageId}: announced by ${announced.producedBy} but no result is stored; ignored`);
      return 'not-stored';
    }
    if (confirmation.verdict === 'replaced') {
      this.metrics.results.inc({ status: 'replaced' });
      this.logger.warn(`image ${announced.imageId}: the announcement by ${announced.producedBy} differs from the stored result; serving the stored one`);
    }
    const result = confirmation.result;
    const { record, duplicate } = this.store.applyResult(result);
    if (duplicate) {
      this.metrics.results.inc({ status: 'duplicate' });
      return 'duplicate';
    }
    this.metrics.results.inc({ status: result.status });
    if (record.uploadedAt !== undefined) {
      this.metrics.latency.observe({ status: result.status }, (Date.now() - record.uploadedAt) / 1000);
    }
    return 'applied';
  }
}
