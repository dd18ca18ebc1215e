/**
 * The S3 key layout, in one place. Keys are made by the server from ids,
 * never from a user's file name.
 */
export const IMAGE_EXTENSIONS = ['jpg', 'png', 'webp', 'gif'] as const;
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number];

export const CONTENT_TYPES: Record<ImageExtension, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
};

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const UUID_PATTERN = new RegExp(`^${UUID}$`);
export const INPUT_KEY_PATTERN = new RegExp(
  `^(${UUID})/(${UUID})\\.(${IMAGE_EXTENSIONS.join('|')})$`,
);

/** Input bucket: `<batchId>/<imageId>.<ext>`. */
export function inputKey(batchId: string, imageId: string, ext: ImageExtension): string {
  return `${batchId}/${imageId}.${ext}`;
}

/**
 * Output bucket: where results live. One prefix, so that the bucket policy can
 * refuse any write under it that is not a conditional create (If-None-Match):
 * a result, once written, cannot be overwritten by anyone, a worker included.
 */
export const RESULT_PREFIX = 'results/';

/** Output bucket: `results/<imageId>.json` (the image id alone makes a redo idempotent). */
export function resultKey(imageId: string): string {
  return `${RESULT_PREFIX}${imageId}.json`;
}

/**
 * Output bucket: the monitor controller's record of the latest attempt it
 * queued for an image, so a late or duplicate monitor message for an older
 * attempt is recognised as superseded.
 */
export function attemptKey(imageId: string): string {
  return `attempts/${imageId}.json`;
}

/**
 * Output bucket: written (empty) once the result's output message is sent. A
 * result without it was never announced (its writer died in between): whoever
 * finds it announces it.
 */
export function announcedKey(imageId: string): string {
  return `announced/${imageId}`;
}

/** Output bucket: a worker's heartbeat (see Heartbeat). */
export function heartbeatKey(workerId: string): string {
  return `heartbeats/${workerId}.json`;
}

/**
 * A tenant's name: what `API_KEYS` entries `tenant=key` name, or `k-` + a
 * short hash of a bare key, or `default` when no keys are configured. It is
 * part of S3 keys, so only these characters.
 */
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const DEFAULT_TENANT = 'default';

export function isTenant(value: string): boolean {
  return TENANT_PATTERN.test(value);
}

/**
 * The `MessageGroupId` of a tenant's launch messages: the tenant itself, so that
 * SQS fair queues share the launch queue out between tenants. A message from
 * before tenants existed belongs to the default tenant.
 */
export function tenantGroupId(tenant: string | undefined): string {
  return tenant ?? DEFAULT_TENANT;
}

/**
 * Output bucket: the batch index, the source of truth for which images a
 * batch has (the input bucket's lifecycle empties it; the index stays as long
 * as the results). Under the tenant, so another tenant's lookup finds nothing.
 * - `batches/<tenant>/<batchId>/batch.json`: the batch itself (label,
 *   callbackUrl, createdAt, closed, and the images of an upload that created
 *   it closed);
 * - `batches/<tenant>/<batchId>/images/<part>.json`: the images one request
 *   added (append-only: concurrent adds from any tier never overwrite each other).
 */
export function batchIndexPrefix(tenant: string, batchId: string): string {
  return `batches/${tenant}/${batchId}/`;
}

export function batchIndexKey(tenant: string, batchId: string): string {
  return `${batchIndexPrefix(tenant, batchId)}batch.json`;
}

export function batchPartPrefix(tenant: string, batchId: string): string {
  return `${batchIndexPrefix(tenant, batchId)}images/`;
}

/** Parts sort by when they were written: a zero-padded millisecond time, then a unique suffix. */
export function batchPartKey(tenant: string, batchId: string, writtenAtMs: number, unique: string): string {
  return `${batchPartPrefix(tenant, batchId)}${String(writtenAtMs).padStart(15, '0')}-${unique}.json`;
}

/**
 * Output bucket: `batches/<tenant>/by-image/<imageId>.json`, the batch an image
 * was uploaded into, so that any web tier can find a still-queued image by its
 * id alone (`by-image` is never a batch id, which is a UUID). Under the tenant,
 * like the index: another tenant's lookup finds nothing. A pointer is only a
 * hint: the batch index decides whether the image belongs to the batch (a
 * pointer of an upload that failed after all stays behind).
 */
export function imageBatchKey(tenant: string, imageId: string): string {
  return `batches/${tenant}/by-image/${imageId}.json`;
}

/** Largest time a listing key can invert (year 2286): newest-first order is ascending key order. */
const LIST_TIME_CEILING = 9_999_999_999_999;

/**
 * Output bucket: an empty marker per batch, `batch-list/<tenant>/<inverted
 * creation time>_<batchId>`, so that one ListObjects page gives a tenant's
 * batches newest first.
 */
export function batchListPrefix(tenant: string): string {
  return `batch-list/${tenant}/`;
}

export function batchListKey(tenant: string, batchId: string, createdAtMs: number): string {
  return `${batchListPrefix(tenant)}${String(LIST_TIME_CEILING - createdAtMs).padStart(13, '0')}_${batchId}`;
}

export function parseBatchListKey(key: string): { tenant: string; batchId: string; createdAtMs: number } | undefined {
  const m = new RegExp(`^batch-list/([A-Za-z0-9][A-Za-z0-9_-]{0,63})/(\\d{13})_(${UUID})$`).exec(key);
  return m ? { tenant: m[1], batchId: m[3], createdAtMs: LIST_TIME_CEILING - Number(m[2]) } : undefined;
}

/**
 * Output bucket: webhook bookkeeping, one object per batch with a callbackUrl.
 * - `webhooks/pending/<tenant>/<batchId>`: written before the batch exists, removed once its
 *   delivery is enqueued (a web tier that starts looks for these: none is lost in a restart);
 * - `webhooks/enqueued/<batchId>`: created with If-None-Match by the tier that enqueues it (one delivery);
 * - `webhooks/delivered/<batchId>`: written once the receiver accepted it (a repeat is not sent).
 */
export const WEBHOOK_PENDING_PREFIX = 'webhooks/pending/';

export function webhookPendingKey(tenant: string, batchId: string): string {
  return `${WEBHOOK_PENDING_PREFIX}${tenant}/${batchId}`;
}

export function parseWebhookPendingKey(key: string): { tenant: string; batchId: string } | undefined {
  const m = new RegExp(`^webhooks/pending/([A-Za-z0-9][A-Za-z0-9_-]{0,63})/(${UUID})$`).exec(key);
  return m ? { tenant: m[1], batchId: m[2] } : undefined;
}

export function webhookEnqueuedKey(batchId: string): string {
  return `webhooks/enqueued/${batchId}`;
}

export function webhookDeliveredKey(deliveryId: string): string {
  return `webhooks/delivered/${deliveryId}`;
}

/** Output bucket: an `Idempotency-Key` record, under the tenant and a hash of the key (any bytes a client sends stay out of the key). */
export function idempotencyKey(tenant: string, keyHash: string): string {
  return `idempotency/${tenant}/${keyHash}.json`;
}

export function parseInputKey(
  key: string,
): { batchId: string; imageId: string; ext: ImageExtension } | undefined {
  const m = INPUT_KEY_PATTERN.exec(key);
  return m ? { batchId: m[1], imageId: m[2], ext: m[3] as ImageExtension } : undefined;
}

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
