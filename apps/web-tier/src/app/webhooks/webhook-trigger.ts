import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { AwsResources, type Queue } from '@app/aws';
import { AppConfig } from '@app/config';
import { parseWebhookPendingKey, WEBHOOK_PENDING_PREFIX, webhookEnqueuedKey, webhookPendingKey } from '@app/contracts';
import { BatchFinished } from '../batches/batch-finished';
import { BatchIndex } from '../batches/batch-index';
import type { BatchSummaryDto } from '../batches/batches.dto';
import { mapLimit } from '../results/map-limit';
import { batchSummary, ResultsService } from '../results/results.service';
import { ResultsStore } from '../results/results.store';
import { serializeWebhookDelivery, type WebhookDelivery, type WebhookPayload } from './webhook-delivery';
import { WEBHOOK_CLOCK, type Clock } from './webhook-clock';
import { PendingWebhookBatches } from './pending-webhook-batches';

/** Pending webhook batches looked at per re-check, and at once: a bounded load on S3 whatever the backlog. */
const PER_SWEEP = 200;
const CONCURRENCY = 4;
/** How often every pending webhook batch is looked at (results heard on another tier, a restart). */
export const WEBHOOK_SWEEP_MS = 30_000;
/** A claim this old whose batch is still pending belongs to a tier that died before it finished enqueuing. */
export const STALE_CLAIM_MS = 5 * 60_000;

export type TriggerOutcome = 'enqueued' | 'not-finished' | 'already-enqueued' | 'gone';

/**
 * Finds finished batches with a callbackUrl and enqueues exactly one delivery
 * each. Nothing of it lives only in memory: a batch with a callbackUrl has a
 * pending marker in the output bucket from before it exists, and every tier
 * looks at the pending batches when it starts and every 30 s, besides reacting
 * at once to a result or a read that shows a batch finished.
 *
 * Enqueuing: a claim object created with If-None-Match (one tier wins), the
 * queue message, then the pending marker removed. A crash between the claim
 * and the send leaves the marker and an ageing claim: after STALE_CLAIM_MS the
 * next look sends again. A crash after the send may send twice: the consumer's
 * delivered marker makes that one POST.
 */
@Injectable()
export class WebhookTrigger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookTrigger.name);
  private readonly queue?: Queue;
  private readonly publicUrl: string;
  /** Looks in progress per batch, and whether another was asked for meanwhile. */
  private readonly looking = new Map<string, { again: boolean }>();
  private readonly unsubscribe: (() => void)[] = [];
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  /** Where the next re-check's page starts (the pending list is paged across re-checks). */
  private sweepAfter?: string;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly aws: AwsResources,
    private readonly index: BatchIndex,
    private readonly results: ResultsService,
    private readonly store: ResultsStore,
    private readonly finished: BatchFinished,
    private readonly pending: PendingWebhookBatches,
    config: AppConfig,
    @Inject(WEBHOOK_CLOCK) private readonly now: Clock,
  ) {
    this.queue = aws.webhookQueue;
    this.publicUrl = config.web.publicUrl ?? `http://localhost:${config.http.port}`;
  }

  onApplicationBootstrap(): void {
    if (!this.queue) return;
    this.unsubscribe.push(
      this.finished.onFinished(({ tenant, batch }) => {
        if (batch.callbackUrl) this.background(this.enqueue(tenant, batch));
      }),
      this.store.onResult((r) => {
        const tenant = this.pending.tenantOf(r.batchId);
        if (tenant !== undefined) this.look(tenant, r.batchId);
      }),
    );
    this.timer = setInterval(() => this.sweepInBackground(), WEBHOOK_SWEEP_MS);
    this.timer.unref();
    this.sweepInBackground();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const u of this.unsubscribe) u();
    await this.sweeping;
    await Promise.allSettled([...this.inFlight]);
  }

  private sweepInBackground(): void {
    this.sweeping ??= this.sweep()
      .catch((err: unknown) => this.logger.warn(`webhook re-check failed: ${(err as Error).message}`))
      .then(() => undefined)
      .finally(() => (this.sweeping = undefined));
  }

  /** Looks at every pending webhook batch (a page of them); returns what became of each. */
  async sweep(): Promise<TriggerOutcome[]> {
    const page = await this.aws.outputBucket.listPage(WEBHOOK_PENDING_PREFIX, { after: this.sweepAfter, maxKeys: PER_SWEEP });
    this.sweepAfter = page.next;
    const refs = page.keys.map(parseWebhookPendingKey).filter((r): r is { tenant: string; batchId: string } => r !== undefined);
    for (const r of refs) this.pending.add(r.tenant, r.batchId);
    return mapLimit(refs, CONCURRENCY, (r) => this.check(r.tenant, r.batchId));
  }

  /** A result of a pending batch arrived: look at it (once at a time per batch; a look asked for meanwhile runs after). */
  private look(tenant: string, batchId: string): void {
    const inProgress = this.looking.get(batchId);
    if (inProgress) {
      inProgress.again = true;
      return;
    }
    // Cheap first: a batch this tier knows whole, with images still queued, is not finished.
    const known = this.store.batch(batchId);
    if (this.store.isBatchComplete(batchId) && known && known.pending > 0) return;
    const state = { again: false };
    this.looking.set(batchId, state);
    const run = async (): Promise<void> => {
      do {
        state.again = false;
        await this.check(tenant, batchId).catch((err: unknown) => this.logger.warn(`webhook look at batch ${batchId} failed: ${(err as Error).message}`));
      } while (state.again && !this.closed);
    };
    this.background(run().finally(() => this.looking.delete(batchId)));
  }

  /** Reads the batch from the index and the results; enqueues its delivery once it is finished. */
  async check(tenant: string, batchId: string): Promise<TriggerOutcome> {
    const indexed = await this.index.read(tenant, batchId);
    if (!indexed || !indexed.meta.callbackUrl) {
      // Deleted, or never written (a crash after the marker), or being written right now (the marker
      // goes first): only a marker older than any batch creation is removed.
      const marker = await this.aws.outputBucket.head(webhookPendingKey(tenant, batchId));
      const age = this.now() - (marker?.lastModified?.getTime() ?? 0);
      if (age < STALE_CLAIM_MS) return 'not-finished';
      await this.aws.outputBucket.delete(webhookPendingKey(tenant, batchId));
      this.pending.delete(batchId);
      return 'gone';
    }
    const summary = batchSummary(indexed.meta, await this.results.batchRecords(indexed));
    if (!summary.finished) return 'not-finished';
    return this.enqueue(tenant, summary);
  }

  /** Enqueues the one delivery of a finished batch, unless another look (on any tier) already did. */
  async enqueue(tenant: string, batch: BatchSummaryDto): Promise<TriggerOutcome> {
    const queue = this.queue;
    if (!queue || !batch.callbackUrl || !batch.finished) return 'not-finished';
    const bucket = this.aws.outputBucket;
    const now = this.now();
    const claim = await bucket.createIfAbsent(webhookEnqueuedKey(batch.batchId), JSON.stringify({ at: new Date(now).toISOString() }), { contentType: 'application/json' });
    if (claim.outcome === 'exists') {
      if (!(await bucket.exists(webhookPendingKey(tenant, batch.batchId)))) return 'already-enqueued';
      const claimed = (await bucket.head(webhookEnqueuedKey(batch.batchId)))?.lastModified?.getTime() ?? now;
      if (now - claimed < STALE_CLAIM_MS) return 'already-enqueued';
      this.logger.warn(`batch ${batch.batchId}: its webhook was claimed ${Math.round((now - claimed) / 1000)} s ago and is still pending; enqueuing it again`);
    }
    const delivery: WebhookDelivery = {
      v: 1,
      deliveryId: batch.batchId,
      tenant,
      batchId: batch.batchId,
      callbackUrl: batch.callbackUrl,
      body: JSON.stringify(this.payload(batch, now)),
      firstEnqueuedAt: now,
      attempt: 1,
    };
    await queue.send(serializeWebhookDelivery(delivery));
    await bucket.delete(webhookPendingKey(tenant, batch.batchId));
    this.pending.delete(batch.batchId);
    this.logger.log(`batch ${batch.batchId} of ${tenant} finished: webhook enqueued`);
    return 'enqueued';
  }

  private payload(batch: BatchSummaryDto, now: number): WebhookPayload {
    const p: WebhookPayload = {
      event: 'batch.finished',
      deliveryId: batch.batchId,
      batchId: batch.batchId,
      total: batch.total,
      done: batch.done,
      failed: batch.failed,
      finishedAt: new Date(now).toISOString(),
      resultsUrl: `${this.publicUrl}/api/batches/${batch.batchId}/results`,
    };
    if (batch.label !== undefined) p.label = batch.label;
    return p;
  }

  private background(work: Promise<unknown>): void {
    const job = work.catch((err: unknown) => this.logger.warn(`webhook enqueue failed (the re-check tries again): ${(err as Error).message}`));
    this.inFlight.add(job);
    void job.finally(() => this.inFlight.delete(job));
  }
}
