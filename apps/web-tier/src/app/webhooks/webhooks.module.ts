import { Module } from '@nestjs/common';
import { AwsModule } from '@app/aws';
import { AppConfig } from '@app/config';
import { BatchesModule } from '../batches/batches.module';
import { WebMetricsModule } from '../ops/metrics.module';
import { WEBHOOK_CLOCK, type Clock } from './webhook-clock';
import { WebhookDeliveries } from './webhook-deliveries';
import { WebhookPolicyModule } from './webhook-policy.module';
import { WebhookSender } from './webhook-sender';
import { WebhookTrigger } from './webhook-trigger';

/**
 * Webhooks: a batch with a callbackUrl gets one signed POST when it finishes.
 * The trigger finds finished batches (durably, across restarts and tiers) and
 * enqueues one delivery each on WEBHOOK_QUEUE_URL; the deliveries consumer
 * POSTs them, retrying with back-off for 24 h.
 */
@Module({
  imports: [AwsModule, BatchesModule, WebhookPolicyModule, WebMetricsModule],
  providers: [
    { provide: WEBHOOK_CLOCK, useValue: (() => Date.now()) satisfies Clock },
    { provide: WebhookSender, inject: [AppConfig], useFactory: (config: AppConfig) => new WebhookSender({ production: config.web.production }) },
    WebhookTrigger,
    WebhookDeliveries,
  ],
  exports: [WebhookTrigger, WebhookDeliveries],
})
export class WebhooksModule {}
