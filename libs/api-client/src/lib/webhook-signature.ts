import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header that carries a delivery's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const WEBHOOK_SIGNATURE_HEADER = 'ICS-Signature';
/** The header that names a delivery; the same on every retry of it, so a receiver can drop a repeat. */
export const WEBHOOK_DELIVERY_HEADER = 'ICS-Delivery';
/** How old a signature may be by default: a captured delivery cannot be replayed after this. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

type Bytes = string | Buffer | Uint8Array;

/** The hex HMAC-SHA256 of `<t>.<body>` under the secret. */
export function webhookSignatureDigest(secret: Bytes, timestamp: number, rawBody: Bytes): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/** The `ICS-Signature` value for a body sent at `timestamp` (unix seconds). */
export function signWebhook(secret: Bytes, timestamp: number, rawBody: Bytes): string {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError(`timestamp must be whole unix seconds (got ${timestamp})`);
  return `t=${timestamp},v1=${webhookSignatureDigest(secret, timestamp, rawBody)}`;
}

export interface VerifyWebhookOptions {
  /** Largest age (and clock skew the other way) of the signature's timestamp, seconds; default 300. */
  toleranceSeconds?: number;
  /** The receiver's clock, milliseconds since the epoch; default Date.now(). */
  now?: number;
}

export type WebhookVerification =
  | { valid: true; timestamp: number }
  | { valid: false; reason: 'malformed' | 'stale' | 'mismatch' };

/**
 * Checks a delivery's `ICS-Signature` header against the raw request body
 * (the bytes as received, before any JSON parsing): the HMAC must match
 * (compared in constant time) and the timestamp must be within
 * `toleranceSeconds` of `now`, so a captured delivery cannot be replayed
 * later. Several `v1=` entries are accepted (any may match), so a sender can
 * sign with an old and a new secret while it rotates.
 */
export function verifyWebhookSignature(secret: Bytes, header: string | string[] | undefined | null, rawBody: Bytes, options: VerifyWebhookOptions = {}): WebhookVerification {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string' || value.length > 4096) return { valid: false, reason: 'malformed' };
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of value.split(',')) {
    const at = part.indexOf('=');
    const name = part.slice(0, at).trim();
    const v = part.slice(at + 1).trim();
    if (name === 't' && /^\d{1,12}$/.test(v)) timestamp = Number(v);
    else if (name === 'v1' && /^[0-9a-f]{64}$/i.test(v)) signatures.push(Buffer.from(v, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) return { valid: false, reason: 'malformed' };
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - timestamp) > tolerance) return { valid: false, reason: 'stale' };
  const expected = Buffer.from(webhookSignatureDigest(secret, timestamp, rawBody), 'hex');
  // Every entry is compared (no early exit), so the time taken says nothing about which one matched.
  let matched = false;
  for (const s of signatures) matched = timingSafeEqual(s, expected) || matched;
  return matched ? { valid: true, timestamp } : { valid: false, reason: 'mismatch' };
}
