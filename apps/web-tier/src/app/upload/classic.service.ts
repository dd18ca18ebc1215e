import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { ResultsService } from '../results/results.service';
import { ResultsStore, type ImageRecord } from '../results/results.store';

/** The response header that names the image a classic request stored (or, on a keyed retry, the one it stored first). */
export const IMAGE_ID_HEADER = 'Image-Id';

/** The image a classic request waits for: the one it stored, or the first request's when its key was seen before. */
export interface ClassicImage {
  imageId: string;
  batchId: string;
  fileName: string;
}

/**
 * Waits for a classic request's image to have its result. The image may be
 * unknown to this tier: a retry with the same `Idempotency-Key` gets the image
 * the first request stored, perhaps through a tier that has since died. Such
 * an image is recorded here as queued, so that its announcement (every tier
 * hears every result) and the recheck of stale images both reach the waiter,
 * and the output bucket is asked once at once: a result stored already answers
 * without waiting for anything.
 */
@Injectable()
export class ClassicService {
  private readonly logger = new Logger(ClassicService.name);

  constructor(
    private readonly store: ResultsStore,
    private readonly results: ResultsService,
    private readonly config: AppConfig,
  ) {}

  /** Resolves with the image's record once it has a result; rejects as ResultsStore.waitForResult does. */
  waitForResult(image: ClassicImage, signal: AbortSignal): Promise<ImageRecord> {
    const known = this.store.image(image.imageId) !== undefined;
    // No upload time: it was not uploaded now, and it is stale for the recheck at once.
    if (!known) this.store.addBatch(image.batchId, [{ imageId: image.imageId, fileName: image.fileName }]);
    // The waiter is in place before the bucket is read, so a result arriving in between is not missed.
    const waiting = this.store.waitForResult(image.imageId, this.config.web.classicTimeoutSeconds * 1000, signal);
    if (!known) void this.applyStored(image.imageId);
    return waiting;
  }

  private async applyStored(imageId: string): Promise<void> {
    try {
      const stored = await this.results.readStoredResult(imageId);
      if (stored) this.store.applyResult(stored);
    } catch (err) {
      // Its announcement, or the recheck, still answers the waiter.
      this.logger.warn(`image ${imageId}: could not read its stored result for a retried classic request: ${(err as Error).message}`);
    }
  }
}
