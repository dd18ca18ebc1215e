import { isTenant, isUuid } from '@app/contracts';

/** What the receiver gets: one POST per finished batch, this JSON as the body. */
export interface WebhookPayload {
  event: 'batch.finished';
  /** The same on every retry of this delivery (also in the `ICS-Delivery` header). */
  deliveryId: string;
  batchId: string;
  label?: string;
  total: number;
  done: number;
  failed: number;
  /** When the web tier found the batch finished. */
  finishedAt: string;
  /** `GET` it (with the API key) for every image's label: `?format=csv|json`. */
  resultsUrl: string;
}

/** One message of the webhook queue: a delivery and where its retries stand. */
export interface WebhookDelivery {
  v: 1;
  deliveryId: string;
  tenant: string;
  batchId: string;
  callbackUrl: string;
  /** The exact bytes to POST (signed as they are). */
  body: string;
  /** When the first attempt was enqueued (ms since the epoch): retries stop 24 h after it. */
  firstEnqueuedAt: number;
  /** This attempt's number, from 1. */
  attempt: number;
}

/** Thrown for a message that is not a delivery: nothing can ever send it. */
export class WebhookDeliveryParseError extends Error {
  override readonly name = 'WebhookDeliveryParseError';
}

/** SQS allows 256 KiB; a payload is a few hundred bytes. */
const MAX_BODY_CHARS = 64 * 1024;

export function parseWebhookDelivery(text: string): WebhookDelivery {
  let m: Partial<WebhookDelivery>;
  try {
    m = JSON.parse(text) as Partial<WebhookDelivery>;
  } catch {
    throw new WebhookDeliveryParseError('not JSON');
  }
  const ok =
    m !== null &&
    typeof m === 'object' &&
    m.v === 1 &&
    typeof m.deliveryId === 'string' &&
    isUuid(m.deliveryId) &&
    typeof m.tenant === 'string' &&
    isTenant(m.tenant) &&
    typeof m.batchId === 'string' &&
    isUuid(m.batchId) &&
    typeof m.callbackUrl === 'string' &&
    m.callbackUrl.length <= 2048 &&
    typeof m.body === 'string' &&
    m.body.length <= MAX_BODY_CHARS &&
    Number.isSafeInteger(m.firstEnqueuedAt) &&
    Number.isSafeInteger(m.attempt) &&
    (m.attempt ?? 0) >= 1;
  if (!ok) throw new WebhookDeliveryParseError('not a webhook delivery (v1)');
  return m as WebhookDelivery;
}

export function serializeWebhookDelivery(d: WebhookDelivery): string {
  return JSON.stringify(d);
}
