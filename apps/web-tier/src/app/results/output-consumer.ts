import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AwsResources, type ReceivedMessage } from '@app/aws';
import { AppConfig } from '@app/config';
import { MessageParseError, parseOutputMessage } from '@app/contracts';
import { MetricsService } from '../ops/metrics.service';
import { ResultsStore } from './results.store';

/**
 * How long a received result stays hidden from other receives. Handling takes
 * milliseconds; a short timeout brings back soon a message lost with an
 * aborted poll (at shutdown) or a failed delete.
 */
const VISIBILITY_SECONDS = 10;
/** Polls this short are waited for at shutdown instead of aborted. */
const WAIT_OUT_POLL_SECONDS = 2;
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
  /** Aborts a long poll in flight (only when it is too long to wait out). */
  private readonly abort = new AbortController();
  /** Ends a back-off pause. */
  private readonly stop = new AbortController();
  private stopping = false;
  private loop?: Promise<void>;
  private readonly waitSeconds: number;

  constructor(
    private readonly aws: AwsResources,
    private readonly store: ResultsStore,
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    this.waitSeconds = config.web.outputPollSeconds;
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Release held requests and streams first: the HTTP server waits for them.
    this.store.shutdown();
    this.stopping = true;
    this.stop.abort();
    if (this.waitSeconds > WAIT_OUT_POLL_SECONDS) this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = BACKOFF_MS.first;
    while (!this.stopping) {
      try {
        const messages = await this.aws.outputQueue.receive({
          maxMessages: 10,
          waitSeconds: this.waitSeconds,
          visibilityTimeoutSeconds: VISIBILITY_SECONDS,
          abortSignal: signal,
        });
        backoff = BACKOFF_MS.first;
        if (messages.length > 0) await this.handle(messages);
      } catch (err) {
        if (this.stopping) break;
        this.logger.warn(`output queue receive failed, retrying in ${backoff} ms: ${(err as Error).message}`);
        await sleep(backoff, this.stop.signal);
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
