import type { AwsResources } from '@app/aws';
import { launchMessage, serialize, tenantGroupId, type OutputMessage } from '@app/contracts';
import { AttemptLedger } from '@app/results';
import type { GiveUp, ImageRef } from './give-up';

/** What a failed take of an image needs to be taken again. */
export interface RetryRef extends ImageRef {
  inputKey: string;
  tenant?: string;
}

/** requeued: the next attempt is in the launch queue; gave-up: the image's attempts are spent and `answer` is its one answer. */
export type NextAttemptOutcome = { kind: 'requeued'; attempt: number } | { kind: 'gave-up'; answer: OutputMessage };

/**
 * What follows a take of an image that ended without a result (its worker
 * died, hung, gave it up, or no worker could claim it): the next attempt, or,
 * once MAX_ATTEMPTS takes have failed, an error result. The one place that
 * decides it, for the deadline checks and the dead-letter watcher alike, so
 * that an error result is written only when the image's attempts are spent.
 *
 * Send before you record: a crash between the launch message and the ledger
 * leaves the image queued twice (harmless), never not at all.
 */
export class NextAttempt {
  private readonly ledger: AttemptLedger;

  constructor(
    private readonly aws: AwsResources,
    private readonly giveUp: GiveUp,
    private readonly maxAttempts: number,
  ) {
    this.ledger = new AttemptLedger(aws.outputBucket);
  }

  async after(ref: RetryRef, reason: string, delaySeconds?: number): Promise<NextAttemptOutcome> {
    if (ref.attempt >= this.maxAttempts) {
      return { kind: 'gave-up', answer: await this.giveUp.send(ref, `no result after ${ref.attempt} attempts (${reason})`) };
    }
    const next = ref.attempt + 1;
    await this.aws.launchQueue.send(
      serialize(
        launchMessage({
          batchId: ref.batchId,
          imageId: ref.imageId,
          fileName: ref.fileName,
          inputKey: ref.inputKey,
          attempt: next,
          enqueuedAt: new Date().toISOString(),
          ...(ref.tenant ? { tenant: ref.tenant } : {}),
        }),
      ),
      delaySeconds,
      // Still the tenant's: its MessageGroupId keeps the launch queue's share fair.
      tenantGroupId(ref.tenant),
    );
    await this.ledger.record(ref.imageId, next);
    return { kind: 'requeued', attempt: next };
  }
}
