import { isIP } from 'node:net';
import { BadRequestException, Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { isForbiddenAddress } from './forbidden-addresses';
import { PendingWebhookBatches } from './pending-webhook-batches';
import { WebhookSecrets } from './webhook-secrets';

/** A URL's host as an address when it is one (URL keeps IPv6 in brackets). */
function literalAddress(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? host : undefined;
}

/**
 * Why a callbackUrl may not be called, or undefined when it may (before DNS:
 * a name is checked again on every connection, see WebhookSender). In
 * production only https, and never an address literal or a `localhost` name
 * that points into the private network; locally http and loopback are fine.
 */
export function callbackUrlProblem(raw: string, production: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'callbackUrl must be an absolute http(s) URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'callbackUrl must be an absolute http(s) URL';
  if (url.username || url.password) return 'callbackUrl must not carry credentials';
  if (!production) return undefined;
  if (url.protocol !== 'https:') return 'callbackUrl must use https';
  const address = literalAddress(url);
  if (address !== undefined ? isForbiddenAddress(address) : /(^|\.)localhost\.?$/i.test(url.hostname)) {
    return 'callbackUrl must not point to a loopback, link-local or private address';
  }
  return undefined;
}

/** Which callbackUrl a tenant may give: webhooks configured, a secret to sign with, an allowed URL. */
@Injectable()
export class WebhookPolicy {
  readonly production: boolean;
  readonly enabled: boolean;

  constructor(
    config: AppConfig,
    private readonly secrets: WebhookSecrets,
    private readonly pending: PendingWebhookBatches,
  ) {
    this.production = config.web.production;
    this.enabled = config.queues.webhook !== undefined;
  }

  /** Throws 400 when the tenant may not be called back at this URL. */
  check(tenant: string, callbackUrl: string | undefined): void {
    if (callbackUrl === undefined) return;
    if (!this.enabled) throw new BadRequestException('callbackUrl: webhooks are not configured on this server (WEBHOOK_QUEUE_URL)');
    const problem = callbackUrlProblem(callbackUrl, this.production);
    if (problem) throw new BadRequestException(problem);
    if (!this.secrets.secretOf(tenant)) throw new BadRequestException(`callbackUrl: tenant ${tenant} has no webhook secret to sign deliveries with (WEBHOOK_SECRETS)`);
  }

  /** A batch was created: with a callbackUrl, its results are watched here from now on (not only from the next re-check). */
  created(tenant: string, batch: { batchId: string; callbackUrl?: string }): void {
    if (batch.callbackUrl !== undefined) this.pending.add(tenant, batch.batchId);
  }
}
