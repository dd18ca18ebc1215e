import { Injectable } from '@nestjs/common';
import { AwsResources } from '@app/aws';
import { outputError, resultKey, serialize, type OutputError } from '@app/contracts';

/** Who gives up on an image, in its error result. */
export const MONITOR_PRODUCER = 'monitor-controller';

export interface ImageRef {
  batchId: string;
  imageId: string;
  fileName: string;
  attempt: number;
}

/** Ends an image with an error result that retrying will not change. */
@Injectable()
export class GiveUp {
  constructor(private readonly aws: AwsResources) {}

  async send(ref: ImageRef, reason: string): Promise<OutputError> {
    const result = outputError({
      batchId: ref.batchId,
      imageId: ref.imageId,
      fileName: ref.fileName,
      attempt: ref.attempt,
      producedBy: MONITOR_PRODUCER,
      completedAt: new Date().toISOString(),
      reason,
      permanent: false,
    });
    const json = serialize(result);
    // Bucket first: once the queue says "error", a reader must find it there too.
    await this.aws.outputBucket.put(resultKey(ref.imageId), json, { contentType: 'application/json' });
    await this.aws.outputQueue.send(json);
    return result;
  }
}
