import { Injectable } from '@nestjs/common';
import { AwsResources } from '@app/aws';
import { outputError, type OutputMessage } from '@app/contracts';
import { ResultPublisher } from '@app/results';

/** Who gives up on an image, in its error result. */
export const MONITOR_PRODUCER = 'monitor-controller';

export interface ImageRef {
  batchId: string;
  imageId: string;
  fileName: string;
  attempt: number;
}

/**
 * Ends an image with an error result that retrying will not change, through
 * the same publisher the worker uses: should a late worker's result be there
 * first, that result stays the answer and is the one announced.
 */
@Injectable()
export class GiveUp {
  readonly publisher: ResultPublisher;

  constructor(aws: AwsResources) {
    this.publisher = new ResultPublisher(aws.outputBucket, aws.resultAnnouncements);
  }

  /** Resolves with the image's one answer: the error result, or the result written before it. */
  async send(ref: ImageRef, reason: string): Promise<OutputMessage> {
    const result = outputError({
      batchId: ref.batchId,
      imageId: ref.imageId,
      fileName: ref.fileName,
      attempt: ref.attempt,
      producedBy: MONITOR_PRODUCER,
      completedAt: new Date().toISOString(),
      reason: reason.slice(0, 1000),
      permanent: false,
    });
    return (await this.publisher.publish(result)).result;
  }
}
