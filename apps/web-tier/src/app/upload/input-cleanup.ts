import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Injectable, Logger } from '@nestjs/common';
import { AwsClients, AwsResources, call } from '@app/aws';

/**
 * Removes stored images whose launch message could not be sent: an image
 * in the input bucket without its message would never be classified, and its
 * uploader was told it failed. (ObjectStore has no delete yet; this is the one
 * S3 call the web tier makes outside it.)
 */
@Injectable()
export class InputCleanup {
  private readonly logger = new Logger(InputCleanup.name);

  constructor(
    private readonly clients: AwsClients,
    private readonly aws: AwsResources,
  ) {}

  /** Deletes each key; returns the keys that could not be deleted. */
  async remove(keys: string[]): Promise<string[]> {
    const bucket = this.aws.inputBucket.bucket;
    const results = await Promise.allSettled(
      keys.map((key) => call('s3.DeleteObject', () => this.clients.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })))),
    );
    const left = keys.filter((_, i) => results[i].status === 'rejected');
    for (const key of left) this.logger.error(`could not remove ${bucket}/${key}: it is stored without a launch message and will not be classified`);
    return left;
  }
}
