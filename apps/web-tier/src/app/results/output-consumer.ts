import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AwsResources, type ReceivedMessage } from '@app/aws';
import { MessageParseError, parseOutputMessage } from '@app/contracts';
import { MetricsService } from '../ops/metrics.service';
import { ResultsStore } from './results.store';

/** How long one receive waits for a message (the SQS long-poll maximum). */
const WAIT_SECONDS = 20;
/** Pause after a failed receive, doubling up to the maximum. */
const BACKOFF_MS = { first: 250, max: 5_000 };

/**
 * Consumes the output queue: each result goes into the ResultsStore (which
 * pushes it to waiting requests and streams), then its message is deleted.
 * A duplicate is applied once and deleted; a malformed message can never be
 * read, so it is logged and deleted rather than retried forever.
 */
@Injectable()
export class OutputConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutputConsumer.name);
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(
    private readonly aws: AwsResources,
    private readonly store: ResultsStore,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Release held requests and streams first: the HTTP server waits for them.
    this.store.shutdown();
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = BACKOFF_MS.first;
    while (!signal.aborted) {
      try {
        const messages = await this.aws.outputQueue.receive({ maxMessages: 10, waitSeconds: WAIT_SECONDS, abortSignal: signal });
        backoff = BACKOFF_MS.first;
        if (messages.length > 0) await this.handle(messages);
      } catch (err) {
        if (signal.aborted) break;
        this.logger.warn(`output queue receive failed, retrying in ${backoff} ms: ${(err as Error).message}`);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, BACKOFF_MS.max);
      }
    }
  }

  /** Applies and deletes a batch of received messages. */
  async handle(messages: ReceivedMessage[]): Promise<void> {
    const handled: string[] = [];
    for (const m of messages) {
      try {
        const result = parseOutputMessage(m.body);
        const { record, duplicate } = this.store.applyResult(result);
        if (duplicate) {
          this.metrics.results.inc({ status: 'duplicate' });
        } else {
          this.metrics.results.inc({ status: result.status });
          if (record.uploadedAt !== undefined) {
            this.metrics.latency.observe({ status: result.status }, (Date.now() - record.uploadedAt) / 1000);
          }
        }
      } catch (err) {
        if (!(err instanceof MessageParseError)) throw err;
        this.metrics.results.inc({ status: 'invalid' });
        this.logger.error(`dropping an unreadable output message ${m.messageId}: ${err.message}`);
      }
      handled.push(m.receiptHandle);
    }
    const failures = await this.aws.outputQueue.deleteBatch(handled);
    for (const f of failures) {
      // Harmless: the message comes back after its visibility timeout and is a duplicate then.
      this.logger.warn(`could not delete output message (${f.code}: ${f.message}); it will be seen again`);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
