import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { AwsResources, NotFoundError } from '@app/aws';
import { AppConfig } from '@app/config';
import { parseInputKey, parseOutputMessage, resultKey, type OutputMessage } from '@app/contracts';
import { decodeMetadataValue } from '../upload/file-name';
import type { BatchDto, ImageResultDto } from './dto';
import { ResultsStore, type ImageRecord } from './results.store';

/** Object metadata keys on stored images (x-amz-meta-*). */
export const META_FILE_NAME = 'file-name';

/**
 * Reads results: from memory first, else from the buckets, so that a web tier
 * that restarted (or never took the upload) still answers.
 */
@Injectable()
export class ResultsService {
  private readonly logger = new Logger(ResultsService.name);

  constructor(
    private readonly store: ResultsStore,
    private readonly aws: AwsResources,
    private readonly config: AppConfig,
  ) {}

  async image(imageId: string): Promise<ImageResultDto> {
    let known = this.store.image(imageId);
    if (known?.unconfirmed) known = this.store.confirm(imageId, await this.readStoredResult(imageId));
    if (known) return this.toDto(known);
    const stored = await this.readStoredResult(imageId);
    if (!stored) throw new NotFoundException(`no image ${imageId} (unknown, or its result is not ready and this web tier did not take its upload)`);
    const record: ImageRecord = {
      imageId,
      batchId: stored.batchId,
      fileName: stored.fileName,
      status: stored.status === 'ok' ? 'done' : 'error',
      result: stored,
    };
    return this.toDto(await this.withInputKey(record));
  }

  async batch(batchId: string): Promise<BatchDto> {
    const records = await this.batchRecords(batchId);
    const images = await Promise.all(records.map((r) => this.toDto(r)));
    const done = images.filter((i) => i.status === 'done').length;
    const failed = images.filter((i) => i.status === 'error').length;
    const queued = images.length - done - failed;
    return { batchId, total: images.length, done, failed, queued, finished: queued === 0, images };
  }

  /**
   * The batch's images: from memory when this process took the upload, else
   * rebuilt from the input bucket (the image ids) and the output bucket (the
   * results), and remembered so that live results apply to it.
   */
  async batchRecords(batchId: string): Promise<ImageRecord[]> {
    if (this.store.isBatchComplete(batchId)) return this.store.batch(batchId)?.images ?? [];
    const objects = await this.aws.inputBucket.list(`${batchId}/`);
    const refs = objects.flatMap((o) => {
      const ref = parseInputKey(o.key);
      return ref ? [{ key: o.key, ref }] : [];
    });
    if (refs.length === 0) {
      const partial = this.store.batch(batchId);
      if (partial && partial.images.length > 0) return partial.images;
      throw new NotFoundException(`no batch ${batchId}`);
    }
    const records = await mapLimit(refs, 16, async ({ key, ref }) => {
      const imageId = ref.imageId;
      const known = this.store.image(imageId);
      if (known && known.status !== 'queued' && !known.unconfirmed) return { ...known, inputKey: key };
      const stored = await this.readStoredResult(imageId);
      if (stored) {
        return { imageId, batchId, fileName: stored.fileName, inputKey: key, status: stored.status === 'ok' ? 'done' : 'error', result: stored } as ImageRecord;
      }
      const head = await this.aws.inputBucket.head(key);
      const fileName = decodeMetadataValue(head?.metadata[META_FILE_NAME]) ?? `${imageId}.${ref.ext}`;
      return { imageId, batchId, fileName, inputKey: key, status: 'queued' } as ImageRecord;
    });
    this.store.hydrateBatch(batchId, records);
    return this.store.batch(batchId)?.images ?? records;
  }

  async toDto(r: ImageRecord): Promise<ImageResultDto> {
    const dto: ImageResultDto = { imageId: r.imageId, batchId: r.batchId, fileName: r.fileName, status: r.status };
    if (r.inputKey) {
      // Signing is local; should it fail, the result is still worth showing.
      dto.url = await this.aws.inputBucket.presignGet(r.inputKey, this.config.web.imageUrlTtlSeconds).catch(() => undefined);
    }
    const res = r.result;
    if (res) {
      dto.attempts = res.attempt;
      dto.producedBy = res.producedBy;
      dto.completedAt = res.completedAt;
      if (res.status === 'ok') {
        dto.label = res.label;
        dto.confidence = res.confidence;
        dto.top5 = res.top5.map((p) => ({ label: p.label, classIndex: p.classIndex, confidence: p.confidence }));
        dto.timings = { ...res.timings };
      } else {
        dto.error = { reason: res.reason, permanent: res.permanent };
      }
    }
    return dto;
  }

  /** The result JSON a worker wrote to the output bucket, if any. */
  async readStoredResult(imageId: string): Promise<OutputMessage | undefined> {
    let body: Buffer;
    try {
      body = await this.aws.outputBucket.getBuffer(resultKey(imageId));
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    try {
      const msg = parseOutputMessage(body.toString('utf8'));
      return msg.imageId === imageId ? msg : undefined;
    } catch (err) {
      this.logger.warn(`result object ${resultKey(imageId)} is not a valid result: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Finds the stored image of a result read back from the output bucket, for its URL. */
  private async withInputKey(r: ImageRecord): Promise<ImageRecord> {
    const objects = await this.aws.inputBucket.list(`${r.batchId}/${r.imageId}.`);
    return objects[0] ? { ...r, inputKey: objects[0].key } : r;
  }
}

/** Runs fn over items with at most `limit` at once, keeping the order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(runners);
  return out;
}
