import { tenantGroupId, type OutputMessage } from '@app/contracts';
import type { AttemptLedger, ResultPublisher } from '@app/results';
import type { Job } from './job';

/** 'published': ours is the answer; 'answered-before': another result was first (announced instead); 'superseded': discarded. */
export type PublishOutcome = 'published' | 'answered-before' | 'superseded';

/**
 * Makes a result the image's answer through the shared ResultPublisher (first
 * result written wins), unless the monitor controller has meanwhile queued a
 * later attempt: then this late work is discarded, not written.
 *
 * The monitor queues a later attempt only from a check of this take, and the
 * first check comes due LIVENESS_CHECK_SECONDS after the claim. So a take
 * younger than that is not looked up in the attempt ledger: a read per image
 * that could only say "not superseded". (Were it superseded anyway, by a check
 * of a duplicate take, the first result written still wins: no harm.)
 */
export class PublishStage {
  constructor(
    private readonly publisher: ResultPublisher,
    private readonly ledger: AttemptLedger,
    /** Takes received at least this long ago are looked up in the ledger first, ms. */
    private readonly supersedableAfterMs = 0,
  ) {}

  async run(job: Job, result: OutputMessage): Promise<PublishOutcome> {
    const t = performance.now();
    if (t - job.receivedAt >= this.supersedableAfterMs && (await this.ledger.isSuperseded(job.msg.imageId, job.msg.attempt))) return 'superseded';
    // Announced under the tenant's group: its results do not queue behind another tenant's at the web tiers.
    const { won } = await this.publisher.publish(result, tenantGroupId(job.msg.tenant));
    job.t.publish = performance.now() - t;
    return won ? 'published' : 'answered-before';
  }

  idle(): Promise<void> {
    return this.publisher.idle();
  }
}
