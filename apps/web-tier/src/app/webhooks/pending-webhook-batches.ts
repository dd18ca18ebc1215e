import { Injectable } from '@nestjs/common';

/** Pending webhook batches this tier knows of, at most this many (the re-check finds any others). */
const REMEMBERED = 100_000;

/**
 * The batches with a callbackUrl not yet enqueued that this tier knows of
 * (batchId → tenant), so that a result of one of them is a reason to look
 * at it at once: those created here, and those the re-check listed. A cache
 * of the pending markers in the output bucket, never the only copy.
 */
@Injectable()
export class PendingWebhookBatches {
  private readonly batches = new Map<string, string>();

  add(tenant: string, batchId: string): void {
    this.batches.delete(batchId);
    this.batches.set(batchId, tenant);
    if (this.batches.size > REMEMBERED) this.batches.delete(this.batches.keys().next().value as string);
  }

  tenantOf(batchId: string): string | undefined {
    return this.batches.get(batchId);
  }

  delete(batchId: string): void {
    this.batches.delete(batchId);
  }
}
