import { randomBytes } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { AwsResources, NotFoundError } from '@app/aws';
import {
  batchIndexKey,
  batchIndexPrefix,
  batchListKey,
  batchListPrefix,
  batchPartKey,
  batchPartPrefix,
  IMAGE_EXTENSIONS,
  imageBatchKey,
  inputKey,
  isUuid,
  parseBatchListKey,
  type ImageExtension,
  webhookPendingKey,
} from '@app/contracts';
import { mapLimit } from '../results/map-limit';

/** One image as the index knows it: enough to find its input and its result. */
export interface IndexedImage {
  imageId: string;
  fileName: string;
  ext: ImageExtension;
}

/** `batches/<tenant>/<batchId>/batch.json`. */
export interface BatchMeta {
  v: 1;
  batchId: string;
  tenant: string;
  label?: string;
  callbackUrl?: string;
  createdAt: string;
  closed: boolean;
  closedAt?: string;
  /** The images of an upload that created the batch closed (one write); later images are in parts. */
  images?: IndexedImage[];
}

export interface IndexedBatch {
  meta: BatchMeta;
  images: IndexedImage[];
}

/** What an image's pointer holds: the batch it was uploaded into. */
interface ImagePointer {
  v: 1;
  batchId: string;
}

/** A written part: its key, so that it can be rewritten when some of its images failed after all. */
export interface BatchPart {
  key: string;
}

const JSON_TYPE = { contentType: 'application/json' };

/**
 * The batch index in the output bucket: which images a batch has, its label,
 * its tenant. It is the source of truth for reads (the input bucket's
 * lifecycle empties it after days; the index stays with the results), it is
 * written before any launch message of the batch leaves (so no result belongs
 * to an unindexed image), and it is append-only per request (a part per
 * upload), so adds from several tiers at once never overwrite each other.
 * Each indexed image also has a pointer to its batch, so that a tier that
 * did not take the upload finds a still-queued image by its id.
 * A lookup under another tenant finds nothing: that is the ownership check.
 */
@Injectable()
export class BatchIndex {
  private readonly logger = new Logger(BatchIndex.name);

  constructor(private readonly aws: AwsResources) {}

  private get bucket() {
    return this.aws.outputBucket;
  }

  /**
   * Writes a new batch: its record and its place in the tenant's list, at once
   * (a marker without its record is skipped by list; a record without its
   * marker is readable, just not listed).
   */
  async create(meta: BatchMeta): Promise<void> {
    // A webhook batch is marked pending first: a crash right after leaves a marker without a batch
    // (skipped and removed by the webhook re-check), never a batch whose webhook nobody looks for.
    if (meta.callbackUrl) await this.bucket.put(webhookPendingKey(meta.tenant, meta.batchId), Buffer.alloc(0), {});
    await Promise.all([
      this.bucket.put(batchIndexKey(meta.tenant, meta.batchId), JSON.stringify(meta), JSON_TYPE),
      this.bucket.put(batchListKey(meta.tenant, meta.batchId, Date.parse(meta.createdAt)), Buffer.alloc(0), {}),
    ]);
  }

  /** Records images added to an open batch (one part per request). */
  async addPart(tenant: string, batchId: string, images: IndexedImage[]): Promise<BatchPart> {
    const key = batchPartKey(tenant, batchId, Date.now(), randomBytes(6).toString('hex'));
    await this.bucket.put(key, JSON.stringify({ images }), JSON_TYPE);
    return { key };
  }

  /** Rewrites a part with the images that were really sent (or removes it when none was). */
  async rewritePart(part: BatchPart, images: IndexedImage[]): Promise<void> {
    if (images.length === 0) await this.bucket.delete(part.key);
    else await this.bucket.put(part.key, JSON.stringify({ images }), JSON_TYPE);
  }

  /** Rewrites the batch's record (the images of an auto-closed batch that were really sent). */
  async rewriteMeta(meta: BatchMeta): Promise<void> {
    await this.bucket.put(batchIndexKey(meta.tenant, meta.batchId), JSON.stringify(meta), JSON_TYPE);
  }

  /** The batch's record, or undefined when the tenant has no such batch. */
  async meta(tenant: string, batchId: string): Promise<BatchMeta | undefined> {
    try {
      const meta = JSON.parse((await this.bucket.getBuffer(batchIndexKey(tenant, batchId))).toString('utf8')) as BatchMeta;
      return meta.tenant === tenant && meta.batchId === batchId ? meta : undefined;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** The batch with every image it has, in the order they were added; undefined when the tenant has no such batch. */
  async read(tenant: string, batchId: string): Promise<IndexedBatch | undefined> {
    const meta = await this.meta(tenant, batchId);
    if (!meta) return undefined;
    const images = [...(meta.images ?? [])];
    const parts = (await this.bucket.list(batchPartPrefix(tenant, batchId))).map((o) => o.key).sort();
    const read = await mapLimit(parts, 8, async (key) => {
      try {
        return (JSON.parse((await this.bucket.getBuffer(key)).toString('utf8')) as { images: IndexedImage[] }).images;
      } catch (err) {
        // A part removed between the list and the read (its upload failed after all): nothing of it was sent.
        if (err instanceof NotFoundError) return [];
        throw err;
      }
    });
    const seen = new Set(images.map((i) => i.imageId));
    for (const image of read.flat()) {
      if (seen.has(image.imageId) || !isUuid(image.imageId) || !IMAGE_EXTENSIONS.includes(image.ext)) continue;
      seen.add(image.imageId);
      images.push(image);
    }
    return { meta, images };
  }

  /**
   * The tenant's batch that holds the image, and the image as indexed; undefined
   * when the tenant has no such image (never uploaded, another tenant's, its
   * upload failed after all, or its batch deleted). Follows the image's pointer,
   * then checks the batch index, which has the last word.
   */
  async findImage(tenant: string, imageId: string): Promise<{ meta: BatchMeta; image: IndexedImage } | undefined> {
    let pointer: ImagePointer;
    try {
      pointer = JSON.parse((await this.bucket.getBuffer(imageBatchKey(tenant, imageId))).toString('utf8')) as ImagePointer;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    if (typeof pointer.batchId !== 'string' || !isUuid(pointer.batchId)) return undefined;
    const meta = await this.meta(tenant, pointer.batchId);
    // A batch created by an upload lists its images in its record: no parts to read.
    const inline = meta?.images?.find((i) => i.imageId === imageId);
    if (!meta || inline) return meta && inline ? { meta, image: inline } : undefined;
    const image = (await this.read(tenant, pointer.batchId))?.images.find((i) => i.imageId === imageId);
    return image ? { meta, image } : undefined;
  }

  /** Marks the batch closed (idempotent); returns its record, or undefined when the tenant has no such batch. */
  async close(tenant: string, batchId: string, now = new Date()): Promise<BatchMeta | undefined> {
    const meta = await this.meta(tenant, batchId);
    if (!meta || meta.closed) return meta;
    const closed: BatchMeta = { ...meta, closed: true, closedAt: now.toISOString() };
    await this.rewriteMeta(closed);
    return closed;
  }

  /**
   * One page of the tenant's batches, newest first. The cursor is the last
   * list key of the previous page, encoded (opaque to clients).
   */
  async list(tenant: string, limit: number, cursor?: string): Promise<{ batches: BatchMeta[]; nextCursor?: string }> {
    const prefix = batchListPrefix(tenant);
    const after = cursor === undefined ? undefined : decodeCursor(cursor, prefix);
    const page = await this.bucket.listPage(prefix, { after, maxKeys: limit });
    const metas = await mapLimit(page.keys, 8, async (key) => {
      const ref = parseBatchListKey(key);
      return ref && ref.tenant === tenant ? this.meta(tenant, ref.batchId) : undefined;
    });
    // A marker without its record: a batch being deleted (the marker goes last).
    const batches = metas.filter((m): m is BatchMeta => m !== undefined);
    return page.next ? { batches, nextCursor: Buffer.from(page.next).toString('base64url') } : { batches };
  }

  /**
   * Removes the index of a batch: its images' pointers and parts, then the
   * record, then the list marker last (a crash leaves it deletable again).
   * `imageIds`: every image of the batch (default: those its record lists).
   */
  async remove(meta: BatchMeta, imageIds: string[] = (meta.images ?? []).map((i) => i.imageId)): Promise<void> {
    const keys = (await this.bucket.list(batchIndexPrefix(meta.tenant, meta.batchId))).map((o) => o.key);
    const record = batchIndexKey(meta.tenant, meta.batchId);
    const pointers = imageIds.map((id) => imageBatchKey(meta.tenant, id));
    await mapLimit([...pointers, ...keys.filter((k) => k !== record)], 8, (k) => this.bucket.delete(k));
    await this.bucket.delete(record);
    await this.bucket.delete(batchListKey(meta.tenant, meta.batchId, Date.parse(meta.createdAt)));
    this.logger.log(`batch ${meta.batchId} of ${meta.tenant}: index removed`);
  }

  /**
   * Writes an image's pointer to its batch. Callers write it before the batch's
   * record or part that lists the image (the upload writes it beside the image's
   * input object): a pointer alone leads nowhere (the index decides), so a crash
   * in between leaves garbage, never an indexed image that no tier can find.
   */
  async writePointer(tenant: string, batchId: string, imageId: string): Promise<void> {
    await this.bucket.put(imageBatchKey(tenant, imageId), JSON.stringify({ v: 1, batchId } satisfies ImagePointer), JSON_TYPE);
  }
}

/** The input key of an indexed image. */
export function indexedInputKey(batchId: string, image: IndexedImage): string {
  return inputKey(batchId, image.imageId, image.ext);
}

/** Thrown for a cursor this server did not make. */
export class BadCursorError extends Error {
  override readonly name = 'BadCursorError';
}

function decodeCursor(cursor: string, prefix: string): string {
  const key = /^[A-Za-z0-9_-]{1,400}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!key.startsWith(prefix) || !parseBatchListKey(key)) throw new BadCursorError('cursor is not one this API gave out');
  return key;
}
