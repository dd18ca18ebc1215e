import { Injectable, Logger } from '@nestjs/common';
import { AwsResources } from '@app/aws';

/**
 * Removes stored images whose launch message could not be sent: an image
 * in the input bucket without its message would never be classified, and its
 * uploader was told it failed.
 */
@Injectable()
export class InputCleanup {
  private readonly logger = new Logger(InputCleanup.name);

  constructor(private readonly aws: AwsResources) {}

  /** Deletes each key; returns the keys that could not be deleted. */
  async remove(keys: string[]): Promise<string[]> {
    const bucket = this.aws.inputBucket.bucket;
    const results = await Promise.allSettled(keys.map((key) => this.aws.inputBucket.delete(key)));
    const left = keys.filter((_, i) => results[i].status === 'rejected');
    for (const key of left) this.logger.error(`could not remove ${bucket}/${key}: it is stored without a launch message and will not be classified`);
    return left;
  }
}
