import type { OutputMessage } from '@app/contracts';
import type { AttemptLedger, ResultPublisher } from '@app/results';
import type { Job } from './job';

/** 'published': ours is the answer; 'answered-before': another result was first (announced instead); 'superseded': discarded. */
export type PublishOutcome = 'published' | 'answered-before' | 'superseded';

/**
 * Makes a result the image's answer through the shared ResultPublisher (first
 * result written wins), unless the monitor controller has meanwhile queued a
 * later attempt: then this late work is discarded, not written.
 */
export class PublishStage {
  constructor(
    private readonly publisher: ResultPublisher,
    private readonly ledger: AttemptLedger,
  ) {}

  async run(job: Job, result: OutputMessage): Promise<PublishOutcome> {
    const t = performance.now();
    if (await this.ledger.isSuperseded(job.msg.imageId, job.msg.attempt)) return 'superseded';
    const { won } = await this.publisher.publish(result);
    job.t.publish = performance.now() - t;
    return won ? 'published' : 'answered-before';
  }

  idle(): Promise<void> {
    return this.publisher.idle();
  }
}
