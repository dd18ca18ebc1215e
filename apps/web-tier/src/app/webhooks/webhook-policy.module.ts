import { Module } from '@nestjs/common';
import { PendingWebhookBatches } from './pending-webhook-batches';
import { WebhookPolicy } from './webhook-policy';
import { WebhookSecrets } from './webhook-secrets';

/**
 * The tenants' webhook secrets and which callbackUrl is allowed: apart from the
 * delivery machinery (WebhooksModule), so that the batches module can check a
 * callbackUrl (and note the new batch) when it is created without depending on
 * what delivers it.
 */
@Module({ providers: [WebhookSecrets, WebhookPolicy, PendingWebhookBatches], exports: [WebhookSecrets, WebhookPolicy, PendingWebhookBatches] })
export class WebhookPolicyModule {}
