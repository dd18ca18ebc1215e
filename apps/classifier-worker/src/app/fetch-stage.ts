import { NotFoundError, type ObjectStore } from '@app/aws';
import { ImageDecodeError, type Classifier, type DecodedImage } from '@app/classifier';
import { PermanentImageError, TransientImageError, type Job } from './job';

/** Counts down free slots; `acquire` waits for one. */
class Slots {
  private readonly waiters: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * Reads a claimed image from the input bucket and decodes it, a few at a time
 * (`lookahead` bounds the decoded pixels held in memory ahead of the model).
 * A missing or undecodable image is the image's fault (PermanentImageError);
 * anything else may pass (TransientImageError: the image is handed back).
 */
export class FetchStage {
  private readonly slots: Slots;

  constructor(
    private readonly inputBucket: ObjectStore,
    private readonly classifier: Pick<Classifier, 'decode'>,
    lookahead = 8,
  ) {
    this.slots = new Slots(lookahead);
  }

  async run(job: Job): Promise<DecodedImage> {
    await this.slots.acquire();
    try {
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
    } finally {
      this.slots.release();
    }
  }
}
