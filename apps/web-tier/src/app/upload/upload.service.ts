import { createHash, randomUUID } from 'node:crypto';
import { BadRequestException, HttpException, HttpStatus, Injectable, Logger, PayloadTooLargeException } from '@nestjs/common';
import { AwsAdapterError, AwsResources } from '@app/aws';
import { AppConfig } from '@app/config';
import { CONTENT_TYPES, inputKey, launchMessage, serialize, tenantGroupId, type ImageExtension } from '@app/contracts';
import type { Request, Response } from 'express';
import { BatchIndex, type BatchMeta, type BatchPart, type IndexedImage } from '../batches/batch-index';
import { errorBody } from '../common/http-error.filter';
import { MetricsService, type UploadMode } from '../ops/metrics.service';
import type { FailedFileDto, UploadResponseDto } from './upload.dto';
import { META_FILE_NAME } from '../results/results.service';
import { ResultsStore } from '../results/results.store';
import { encodeMetadataValue } from './file-name';
import { IdempotencyStore, requestHash, type IdempotencyClaim, type StoredAnswer } from '../common/idempotency';
import { InputCleanup } from './input-cleanup';
import { LaunchPublisher } from './launch-publisher';
import { TenantImagesInFlight, type ImagesRoom } from './tenant-images-in-flight';
import { refuseBeforeBody, UploadAdmission } from './upload-admission';
import { readMultipart, type ReceivedFile } from './multipart-stream';
import { formatBytes } from './upload.errors';
import { UploadMemory } from './upload-memory';

/** Room for the multipart boundaries and part headers around each file. */
const PART_OVERHEAD_BYTES = 1024;

/** Whose upload this is, and where it goes: a new batch (closed at once), or an open batch of the tenant's. */
export interface UploadTarget {
  tenant: string;
  /** The open batch to add to; absent: a new batch. */
  batch?: BatchMeta;
  /** The request's `Idempotency-Key`, checked. */
  idempotencyKey?: string;
}

/** An upload's answer as an idempotency record keeps it: input keys instead of URLs, which expire. */
interface KeptUpload {
  batchId: string;
  images: { imageId: string; fileName: string; key: string }[];
  failed?: FailedFileDto[];
}

interface Planned {
  index: number;
  imageId: string;
  fileName: string;
  ext: ImageExtension;
  key: string;
  size: number;
  /** SHA-256 of the file's bytes: part of an idempotent request's hash. */
  digest: string;
  body: string;
  /** Why storing it failed, if it did. */
  failed?: string;
}

/**
 * Accepts images: streams each file of the upload to the input bucket as it
 * arrives (checked first: type by its bytes, size, count), then, once the
 * whole upload was good, sends one launch message per stored image. A bad
 * file anywhere refuses the upload: what was already stored is removed again
 * and nothing is sent. A file is accepted only when both its object and its
 * message exist; an image stored without its message is removed again, and
 * the caller is told which files failed.
 */
@Injectable()
export class UploadService {
  private readonly logger = new Logger(UploadService.name);

  constructor(
    private readonly aws: AwsResources,
    private readonly config: AppConfig,
    private readonly store: ResultsStore,
    private readonly publisher: LaunchPublisher,
    private readonly cleanup: InputCleanup,
    private readonly memory: UploadMemory,
    private readonly metrics: MetricsService,
    private readonly index: BatchIndex,
    private readonly idempotency: IdempotencyStore,
    private readonly imagesInFlight: TenantImagesInFlight,
    private readonly admission: UploadAdmission,
  ) {}

  async accept(req: Request, res: Response, mode: UploadMode, field: string, target: UploadTarget): Promise<UploadResponseDto> {
    const single = mode === 'classic';
    const maxFiles = single ? 1 : this.config.web.maxFiles;
    const maxFileBytes = this.config.web.maxFileBytes;
    if (!req.is('multipart/form-data')) {
      this.metrics.uploads.inc({ mode, outcome: 'refused' });
      throw new BadRequestException(`expected a multipart/form-data upload with the image${single ? '' : 's'} in the field "${field}"`);
    }
    // Refuse a body that cannot fit, or cannot be held now, before reading any of it.
    const declared = Number(req.headers['content-length'] ?? NaN);
    const most = maxFiles * (maxFileBytes + PART_OVERHEAD_BYTES) + 64 * 1024;
    if (Number.isFinite(declared) && declared > most) {
      res.setHeader('Connection', 'close');
      this.metrics.uploads.inc({ mode, outcome: 'refused' });
      throw new PayloadTooLargeException(`the upload takes ${formatBytes(declared)}, more than ${maxFiles} file(s) of at most ${formatBytes(maxFileBytes)} can`);
    }
    try {
      // A tenant at its images-in-flight limit is refused before a byte is read or stored.
      this.imagesInFlight.check(target.tenant);
    } catch (err) {
      refuseBeforeBody(res, declared);
      throw err;
    }
    // Caps per client address and tenant, and the upload memory; then the body is watched while read.
    const body = this.admission.admit(req, res, target.tenant, declared);

    const batchId = target.batch?.batchId ?? randomUUID();
    const enqueuedAt = new Date().toISOString();
    const planned: Planned[] = [];
    const progress = { files: 0 };
    try {
      const reading = readMultipart(
        req,
        { field, single, maxFiles, maxFileBytes, concurrency: this.config.web.uploadConcurrency, count: (d) => this.memory.count(d), progress, signal: body.signal },
        (file) => this.storeOne(batchId, target.tenant, enqueuedAt, file, planned),
      );
      // The body is piped now: watching it cannot start it flowing into nothing.
      body.watch();
      await reading;
    } catch (err) {
      // Bad input: nothing of this upload may stay behind.
      const stored = planned.filter((p) => !p.failed);
      if (stored.length > 0) await this.cleanup.remove(stored.map((p) => p.key));
      this.metrics.uploads.inc({ mode, outcome: 'refused' }, Math.max(1, progress.files));
      throw err;
    } finally {
      body.end();
    }
    if (planned.length === 0) {
      this.metrics.uploads.inc({ mode, outcome: 'refused' });
      throw new BadRequestException(`no files: send ${single ? 'one image' : 'one or more images'} in the multipart field "${field}"`);
    }
    planned.sort((a, b) => a.index - b.index);
    let claim: IdempotencyClaim | undefined;
    if (target.idempotencyKey) {
      const hash = uploadRequestHash(mode, field, target.batch?.batchId, planned);
      const outcome = await this.idempotency.begin<KeptUpload>(target.tenant, target.idempotencyKey, hash).catch(async (err: unknown) => {
        await this.cleanup.remove(planned.filter((p) => !p.failed).map((p) => p.key));
        throw err;
      });
      if (outcome.kind === 'replay') {
        // This copy of the upload is not needed: the first one is the batch.
        await this.cleanup.remove(planned.filter((p) => !p.failed).map((p) => p.key));
        return this.replay(outcome.answer);
      }
      claim = outcome.claim;
    }
    let answer: UploadResponseDto;
    try {
      answer = await this.enqueueWithinLimit(batchId, planned, mode, target);
    } catch (err) {
      await claim?.abandon();
      throw err;
    }
    if (claim) {
      const kept: KeptUpload = { batchId, images: answer.images.map((i) => ({ imageId: i.imageId, fileName: i.fileName, key: planned.find((p) => p.imageId === i.imageId)?.key ?? '' })) };
      if (answer.failed) kept.failed = answer.failed;
      await claim.finish({ statusCode: HttpStatus.ACCEPTED, body: kept }).catch((err: Error) => this.logger.warn(`batch ${batchId}: the Idempotency-Key answer was not stored (${err.message}); a retry may upload again`));
    }
    return answer;
  }

  /** The first answer of a keyed upload, with fresh image URLs. */
  private async replay(answer: StoredAnswer<KeptUpload>): Promise<UploadResponseDto> {
    const kept = answer.body;
    const ttl = this.config.web.imageUrlTtlSeconds;
    const images = await Promise.all(
      kept.images.map(async (i) => ({ imageId: i.imageId, fileName: i.fileName, status: 'queued' as const, url: await this.aws.inputBucket.presignGet(i.key, ttl) })),
    );
    return kept.failed ? { batchId: kept.batchId, images, failed: kept.failed } : { batchId: kept.batchId, images };
  }

  /** Stores one checked file under a key made of ids; a failure is recorded, not thrown (the others may still make it). */
  private async storeOne(batchId: string, tenant: string, enqueuedAt: string, file: ReceivedFile, planned: Planned[]): Promise<void> {
    const imageId = randomUUID();
    const key = inputKey(batchId, imageId, file.ext);
    const body = serialize(launchMessage({ batchId, imageId, fileName: file.fileName, attempt: 1, inputKey: key, enqueuedAt, tenant }));
    const digest = createHash('sha256').update(file.bytes).digest('hex');
    const p: Planned = { index: file.index, imageId, fileName: file.fileName, ext: file.ext, key, size: file.bytes.length, digest, body };
    planned.push(p);
    try {
      // The pointer beside the bytes, both before the index lists the image: one round trip
      // where two in a row slowed every upload (and a busy tenant's load slows each several times).
      await Promise.all([
        this.aws.inputBucket.put(key, file.bytes, {
          contentType: CONTENT_TYPES[file.ext],
          metadata: { [META_FILE_NAME]: encodeMetadataValue(file.fileName), 'batch-id': batchId, 'image-id': imageId },
        }),
        this.index.writePointer(tenant, batchId, imageId),
      ]);
    } catch (err) {
      p.failed = reason(err);
    }
  }

  /**
   * enqueue() within the tenant's TENANT_MAX_IMAGES_IN_FLIGHT: refused (429), the stored
   * files are removed and nothing is sent; accepted, each image sent counts until answered.
   */
  private async enqueueWithinLimit(batchId: string, planned: Planned[], mode: UploadMode, target: UploadTarget): Promise<UploadResponseDto> {
    const stored = planned.filter((p) => !p.failed);
    let room: ImagesRoom;
    try {
      room = this.imagesInFlight.reserve(target.tenant, stored.length);
    } catch (err) {
      await this.cleanup.remove(stored.map((p) => p.key));
      this.metrics.uploads.inc({ mode, outcome: 'refused' }, planned.length);
      throw err;
    }
    try {
      const answer = await this.enqueue(batchId, planned, mode, target);
      room.hold(answer.images.map((i) => i.imageId));
      return answer;
    } finally {
      room.release();
    }
  }

  /** Writes the index entry of an upload; returns how to rewrite it with the images really sent. */
  private async writeIndex(batchId: string, target: UploadTarget, images: IndexedImage[]): Promise<(sent: IndexedImage[]) => Promise<void>> {
    if (target.batch) {
      const part: BatchPart = await this.index.addPart(target.tenant, batchId, images);
      return (sent) => this.index.rewritePart(part, sent);
    }
    const meta = newBatchMeta(batchId, target.tenant, images);
    await this.index.create(meta);
    return (sent) => (sent.length > 0 ? this.index.rewriteMeta({ ...meta, images: sent }) : this.index.remove(meta));
  }

  /**
   * Indexes the stored images (before any message leaves, so no result ever
   * belongs to an unindexed image), then sends one launch message per image;
   * answers 202 for those sent, 503 when none was.
   */
  private async enqueue(batchId: string, planned: Planned[], mode: UploadMode, target: UploadTarget): Promise<UploadResponseDto> {
    const toSend = planned.filter((p) => !p.failed);
    const indexed = (ps: Planned[]): IndexedImage[] => ps.map((p) => ({ imageId: p.imageId, fileName: p.fileName, ext: p.ext }));
    let rewriteIndex: (sent: IndexedImage[]) => Promise<void> = async () => undefined;
    if (toSend.length > 0) {
      try {
        rewriteIndex = await this.writeIndex(batchId, target, indexed(toSend));
      } catch (err) {
        await this.cleanup.remove(toSend.map((p) => p.key));
        this.metrics.uploads.inc({ mode, outcome: 'failed' }, planned.length);
        throw err;
      }
    }
    // Known as queued before any message leaves, so that no result can arrive unannounced.
    const uploadedAt = Date.now();
    if (toSend.length > 0) this.store.addBatch(batchId, toSend.map((p) => ({ imageId: p.imageId, fileName: p.fileName, inputKey: p.key, uploadedAt })));

    // Batched with other requests' messages.
    const sent = await Promise.allSettled(this.publisher.publish(toSend.map((p) => p.body), tenantGroupId(target.tenant)));
    const unsent = toSend.filter((_, i) => sent[i].status === 'rejected');
    const leftBehind = new Set(unsent.length > 0 ? await this.cleanup.remove(unsent.map((p) => p.key)) : []);
    if (unsent.length > 0) this.store.removeImages(batchId, unsent.map((p) => p.imageId));

    const failed: FailedFileDto[] = planned.flatMap((p) => {
      if (p.failed) return [{ fileName: p.fileName, reason: p.failed, cleanedUp: true }];
      const i = toSend.indexOf(p);
      const r = sent[i];
      return r.status === 'rejected' ? [{ fileName: p.fileName, reason: reason(r.reason), cleanedUp: !leftBehind.has(p.key) }] : [];
    });
    const accepted = toSend.filter((p) => !unsent.includes(p));
    if (unsent.length > 0) {
      // The index lists only what was sent: an image without its message would stay queued for ever.
      await rewriteIndex(indexed(accepted)).catch((err: Error) => this.logger.error(`batch ${batchId}: could not drop ${unsent.length} unsent image(s) from its index: ${err.message}`));
    }
    this.metrics.uploads.inc({ mode, outcome: 'accepted' }, accepted.length);
    this.metrics.uploadBytes.inc({ mode }, accepted.reduce((n, p) => n + p.size, 0));
    if (failed.length > 0) {
      this.metrics.uploads.inc({ mode, outcome: 'failed' }, failed.length);
      this.logger.warn(`batch ${batchId}: ${failed.length} of ${planned.length} file(s) failed: ${failed[0].reason}`);
    }
    if (accepted.length === 0) {
      throw new HttpException(
        errorBody(HttpStatus.SERVICE_UNAVAILABLE, `storage or queue unavailable: no file was accepted (${failed[0].reason})`, { failed }),
        HttpStatus.SERVICE_UNAVAILABLE,
      );
    }
    const ttl = this.config.web.imageUrlTtlSeconds;
    const images = await Promise.all(
      accepted.map(async (p) => ({
        imageId: p.imageId,
        fileName: p.fileName,
        status: 'queued' as const,
        url: await this.aws.inputBucket.presignGet(p.key, ttl),
      })),
    );
    return failed.length > 0 ? { batchId, images, failed } : { batchId, images };
  }
}

/** What identifies an upload for `Idempotency-Key`: its route, the batch it adds to, each file's name and bytes (SHA-256) in order. */
export function uploadRequestHash(mode: UploadMode, field: string, batchId: string | undefined, files: { fileName: string; digest: string }[]): string {
  return requestHash([mode, field, batchId ?? null, files.map((f) => [f.fileName, f.digest])]);
}

/** The record of the batch an upload creates: closed at once, its images inline (one write). */
function newBatchMeta(batchId: string, tenant: string, images: IndexedImage[]): BatchMeta {
  const now = new Date().toISOString();
  return { v: 1, batchId, tenant, createdAt: now, closed: true, closedAt: now, images };
}

function reason(err: unknown): string {
  if (err instanceof AwsAdapterError) return `${err.operation}: ${err.name}`;
  return err instanceof Error ? err.message : String(err);
}
