import { Module } from '@nestjs/common';
import { WebhookPolicy } from './webhook-policy';
import { WebhookSecrets } from './webhook-secrets';

/**
 * The tenants' webhook secrets and which callbackUrl is allowed: apart from the
 * delivery machinery (WebhooksModule), so that the batches module can check a
 * callbackUrl when a batch is created without depending on what delivers it.
 */
@Module({ providers: [WebhookSecrets, WebhookPolicy], exports: [WebhookSecrets, WebhookPolicy] })
export class WebhookPolicyModule {}
