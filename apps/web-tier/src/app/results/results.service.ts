import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { AwsResources, NotFoundError } from '@app/aws';
import { AppConfig } from '@app/config';
import { parseOutputMessage, resultKey, type OutputMessage } from '@app/contracts';
import { BatchIndex, indexedInputKey, type BatchMeta, type IndexedBatch } from '../batches/batch-index';
import type { BatchDto, BatchSummaryDto } from '../batches/batches.dto';
import type { ImageResultDto } from './dto';
import { mapLimit } from './map-limit';
import { ResultsStore, type ImageRecord } from './results.store';

/** Object metadata keys on stored images (x-amz-meta-*). */
export const META_FILE_NAME = 'file-name';

/** One answer for an image that is unknown or another tenant's: ids reveal nothing. */
export function imageNotFound(imageId: string): NotFoundException {
  return new NotFoundException(`no image ${imageId}`);
}

/** A batch's counts and record, without its images. */
export function batchSummary(meta: BatchMeta, records: Pick<ImageRecord, 'status'>[]): BatchSummaryDto {
  const done = records.filter((r) => r.status === 'done').length;
  const failed = records.filter((r) => r.status === 'error').length;
  const queued = records.length - done - failed;
  const summary: BatchSummaryDto = {
    batchId: meta.batchId,
    createdAt: meta.createdAt,
    closed: meta.closed,
    total: records.length,
    done,
    failed,
    queued,
    // An open batch may still get images: finished only once closed.
    finished: meta.closed && queued === 0,
  };
  if (meta.label !== undefined) summary.label = meta.label;
  if (meta.callbackUrl !== undefined) summary.callbackUrl = meta.callbackUrl;
  return summary;
}

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
    private readonly index: BatchIndex,
  ) {}

  /**
   * One of the tenant's images, answered the same on every web tier: a result
   * in the output bucket wins over what this tier has heard (the bucket has the
   * word, as for the batch routes); a still-queued image that this tier did not
   * take is found through the batch index. Another tenant's image is as unknown
   * as a missing one.
   */
  async image(tenant: string, imageId: string): Promise<ImageResultDto> {
    let known = this.store.image(imageId);
    if (known?.unconfirmed) known = this.store.confirm(imageId, await this.readStoredResult(imageId));
    const stored = known && known.status !== 'queued' ? undefined : await this.readStoredResult(imageId);
    const record: ImageRecord | undefined = stored
      ? { imageId, batchId: stored.batchId, fileName: known?.fileName ?? stored.fileName, inputKey: known?.inputKey, status: stored.status === 'ok' ? 'done' : 'error', result: stored }
      : known;
    if (record) {
      // The image's batch must be the caller's.
      if (!(await this.index.meta(tenant, record.batchId))) throw imageNotFound(imageId);
      return this.toDto(record.inputKey ? record : await this.withInputKey(record));
    }
    const found = await this.index.findImage(tenant, imageId);
    if (!found) throw imageNotFound(imageId);
    const { meta, image } = found;
    return this.toDto({ imageId, batchId: meta.batchId, fileName: image.fileName, inputKey: indexedInputKey(meta.batchId, image), status: 'queued' });
  }

  /** The batch as the API shows it: its record from the index, and every image with its result. */
  async batch(indexed: IndexedBatch): Promise<BatchDto> {
    const records = await this.batchRecords(indexed);
    const images = await Promise.all(records.map((r) => this.toDto(r)));
    return { ...batchSummary(indexed.meta, records), images };
  }

  /**
   * The batch's images, in the order of the index: each one's result from
   * memory when known here, else from the output bucket (a restarted tier, or
   * another tier took the upload), else queued. Remembered, so that live
   * results apply to them.
   */
  async batchRecords(indexed: IndexedBatch): Promise<ImageRecord[]> {
    const batchId = indexed.meta.batchId;
    const inMemory = this.store.batch(batchId);
    if (this.store.isBatchComplete(batchId) && inMemory && indexed.images.every((i) => this.store.image(i.imageId)?.batchId === batchId)) {
      return indexed.images.map((i) => this.store.image(i.imageId) as ImageRecord);
    }
    const records = await mapLimit(indexed.images, 16, async (image) => {
      const imageId = image.imageId;
      const key = indexedInputKey(batchId, image);
      const known = this.store.image(imageId);
      if (known && known.status !== 'queued' && !known.unconfirmed) return { ...known, inputKey: key };
      const stored = await this.readStoredResult(imageId);
      if (stored) {
        return { imageId, batchId, fileName: image.fileName, inputKey: key, status: stored.status === 'ok' ? 'done' : 'error', result: stored } as ImageRecord;
      }
      return { imageId, batchId, fileName: image.fileName, inputKey: key, status: 'queued' } as ImageRecord;
    });
    this.store.hydrateBatch(batchId, records);
    return indexed.images.map((i, n) => this.store.image(i.imageId) ?? records[n]);
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
