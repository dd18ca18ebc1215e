import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AwsResources, QueueConsumer, SQS_MAX_DELAY_SECONDS, type ReceivedMessage } from '@app/aws';
import { AppConfig } from '@app/config';
import { webhookDeliveredKey } from '@app/contracts';
import { MetricsService } from '../ops/metrics.service';
import { WEBHOOK_CLOCK, type Clock } from './webhook-clock';
import { parseWebhookDelivery, serializeWebhookDelivery, WebhookDeliveryParseError, type WebhookDelivery } from './webhook-delivery';
import { WebhookSecrets } from './webhook-secrets';
import { WebhookSender, type SendOutcome } from './webhook-sender';

/** Retries stop this long after the first attempt was enqueued. */
export const RETRY_WINDOW_MS = 24 * 3600_000;
/** The first retry waits this long; each next one twice as long, up to SQS's longest delay (900 s). */
const FIRST_RETRY_SECONDS = 10;
/** Above the sender's 10 s bound plus the S3 checks: a delivery is never handled twice at once by accident. */
const VISIBILITY_SECONDS = 60;

export type DeliveryOutcome = 'delivered' | 'duplicate' | 'retry-scheduled' | 'given-up' | 'invalid';

/** Seconds before the next attempt after attempt `attempt` (from 1) failed: 10, 20, 40, … 900, 900, … */
export function retryDelaySeconds(attempt: number): number {
  return Math.min(SQS_MAX_DELAY_SECONDS, FIRST_RETRY_SECONDS * 2 ** Math.min(attempt - 1, 20));
}

/** Where a delivery goes, for logs: the origin only (a URL's path or query may hold the receiver's token). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(unreadable URL)';
  }
}

/**
 * Consumes the webhook queue (the shared QueueConsumer): each message is one
 * attempt at one delivery. A delivery the receiver accepted is recorded
 * (`webhooks/delivered/<id>`) and a repeat of it is not POSTed; a failed
 * attempt is sent back to the queue delayed (exponential, at most 900 s a hop)
 * until 24 h after the first, then given up with a log line. The message is
 * deleted only after its retry was sent: a crash in between repeats an attempt,
 * it never loses one.
 */
@Injectable()
export class WebhookDeliveries implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WebhookDeliveries.name);
  /** Public for /health and tests; absent when webhooks are not configured. */
  readonly consumer?: QueueConsumer<DeliveryOutcome>;

  constructor(
    private readonly aws: AwsResources,
    private readonly secrets: WebhookSecrets,
    private readonly sender: WebhookSender,
    private readonly metrics: MetricsService,
    config: AppConfig,
    @Inject(WEBHOOK_CLOCK) private readonly now: Clock,
  ) {
    if (!aws.webhookQueue) return;
    this.consumer = new QueueConsumer<DeliveryOutcome>({
      queue: aws.webhookQueue,
      name: 'webhooks',
      handleMessage: async (m) => {
        const outcome = await this.handle(m);
        this.metrics.webhookAttempts.inc({ outcome });
        return outcome;
      },
      batchSize: 10,
      waitSeconds: config.web.outputPollSeconds,
      visibilityTimeoutSeconds: VISIBILITY_SECONDS,
      handlerTimeoutSeconds: config.consumerHandlerTimeoutSeconds,
      logger: this.logger,
    });
  }

  onApplicationBootstrap(): void {
    this.consumer?.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.stop();
    this.sender.close();
  }

  /** One attempt; resolves once the message may be deleted (throws: it stays for SQS to deliver again). */
  async handle(m: Pick<ReceivedMessage, 'body' | 'messageId'>): Promise<DeliveryOutcome> {
    let d: WebhookDelivery;
    try {
      d = parseWebhookDelivery(m.body);
    } catch (err) {
      if (!(err instanceof WebhookDeliveryParseError)) throw err;
      this.logger.error(`dropping an unreadable webhook message ${m.messageId}: ${err.message}`);
      return 'invalid';
    }
    const secret = this.secrets.secretOf(d.tenant);
    let outcome: SendOutcome;
    try {
      if (await this.aws.outputBucket.exists(webhookDeliveredKey(d.deliveryId))) return 'duplicate';
      // A secret added later (configuration fixed, tier restarted) still gets it there within the 24 h.
      outcome = secret ? await this.sender.send(d, secret, this.now()) : { delivered: false, retry: true, reason: `tenant ${d.tenant} has no webhook secret (WEBHOOK_SECRETS)` };
    } catch (err) {
      outcome = { delivered: false, retry: true, reason: `could not check the delivery record: ${(err as Error).message}` };
    }
    if (outcome.delivered) {
      await this.aws.outputBucket
        .createIfAbsent(webhookDeliveredKey(d.deliveryId), JSON.stringify({ status: outcome.status, at: new Date(this.now()).toISOString() }), { contentType: 'application/json' })
        .catch((err: unknown) => this.logger.warn(`batch ${d.batchId}: delivered, but not recorded (a repeat may be sent): ${(err as Error).message}`));
      this.logger.log(`batch ${d.batchId} of ${d.tenant}: webhook delivered to ${origin(d.callbackUrl)} (attempt ${d.attempt}, HTTP ${outcome.status})`);
      return 'delivered';
    }
    if (!outcome.retry) {
      this.logger.warn(`batch ${d.batchId} of ${d.tenant}: webhook to ${origin(d.callbackUrl)} refused, not retried: ${outcome.reason}`);
      return 'given-up';
    }
    return this.retry(d, outcome.reason);
  }

  private async retry(d: WebhookDelivery, reason: string): Promise<DeliveryOutcome> {
    const delay = retryDelaySeconds(d.attempt);
    const nextAt = this.now() + delay * 1000;
    if (nextAt - d.firstEnqueuedAt > RETRY_WINDOW_MS) {
      this.logger.warn(`batch ${d.batchId} of ${d.tenant}: webhook to ${origin(d.callbackUrl)} given up after ${d.attempt} attempts over 24 h; last: ${reason}`);
      return 'given-up';
    }
    // Sent before this message is deleted (the consumer deletes it once this resolves): a crash repeats, never loses.
    await this.aws.webhookQueue?.send(serializeWebhookDelivery({ ...d, attempt: d.attempt + 1 }), delay);
    this.logger.warn(`batch ${d.batchId} of ${d.tenant}: webhook attempt ${d.attempt} to ${origin(d.callbackUrl)} failed (${reason}); next in ${delay} s`);
    return 'retry-scheduled';
  }
}
