import { NotFoundError, type ObjectStore } from '@app/aws';
import { ImageDecodeError, type Classifier, type DecodedImage } from '@app/classifier';
import { PermanentImageError, TransientImageError, type Job } from './job';

/**
 * Reads a claimed image from the input bucket and decodes it (how many at a
 * time, the worker loop's TenantTurns decide). A missing or undecodable image
 * is the image's fault (PermanentImageError); anything else may pass
 * (TransientImageError: the image is handed back).
 */
export class FetchStage {
  constructor(
    private readonly inputBucket: ObjectStore,
    private readonly classifier: Pick<Classifier, 'decode'>,
  ) {}

  async run(job: Job): Promise<DecodedImage> {
    const t = performance.now();
    let bytes: Buffer;
    try {
      bytes = await this.inputBucket.getBuffer(job.msg.inputKey);
    } catch (err) {
      if (err instanceof NotFoundError) throw new PermanentImageError('image not found in the input bucket', { cause: err });
      throw new TransientImageError((err as Error).message, { cause: err });
    }
    job.t.download = performance.now() - t;
    try {
      const decoded = await this.classifier.decode(bytes);
      job.t.decode = decoded.decodeMs;
      return decoded;
    } catch (err) {
      if (err instanceof ImageDecodeError) throw new PermanentImageError(err.message, { cause: err });
      throw new TransientImageError((err as Error).message, { cause: err });
    }
  }
}
