import { randomUUID } from 'node:crypto';
import { BadRequestException, HttpException, HttpStatus, Injectable, Logger, UnsupportedMediaTypeException } from '@nestjs/common';
import { AwsAdapterError, AwsResources } from '@app/aws';
import { AppConfig } from '@app/config';
import { CONTENT_TYPES, inputKey, launchMessage, serialize, sniffImageType, type ImageExtension } from '@app/contracts';
import { errorBody } from '../common/http-error.filter';
import { MetricsService, type UploadMode } from '../ops/metrics.service';
import type { FailedFileDto, UploadResponseDto } from '../results/dto';
import { mapLimit, META_FILE_NAME } from '../results/results.service';
import { ResultsStore } from '../results/results.store';
import { encodeMetadataValue, sanitizeFileName } from './file-name';
import { InputCleanup } from './input-cleanup';
import { LaunchPublisher } from './launch-publisher';

/** The part of a multer file the service needs. */
export interface IncomingFile {
  originalname: string;
  buffer: Buffer;
  size: number;
}

interface Planned {
  imageId: string;
  fileName: string;
  key: string;
  ext: ImageExtension;
  bytes: Buffer;
  body: string;
}

/**
 * Accepts images: checks every file first (so that a bad one means nothing is
 * stored or sent), stores each under a key made from ids, then sends one
 * launch message per stored image. A file is accepted only when both its
 * object and its message exist; an image stored without its message is
 * removed again, and the caller is told which files failed.
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
    private readonly metrics: MetricsService,
  ) {}

  async accept(files: IncomingFile[] | undefined, mode: UploadMode, field: string): Promise<UploadResponseDto> {
    const plan = this.check(files ?? [], mode, field);
    const batchId = randomUUID();
    const enqueuedAt = new Date().toISOString();
    const planned: Planned[] = plan.map(({ file, ext, fileName }) => {
      const imageId = randomUUID();
      const key = inputKey(batchId, imageId, ext);
      const body = serialize(launchMessage({ batchId, imageId, fileName, attempt: 1, inputKey: key, enqueuedAt }));
      return { imageId, fileName, key, ext, bytes: file.buffer, body };
    });

    // 1. Store every image.
    const stored = await mapLimit(planned, this.config.web.uploadConcurrency, async (p) => {
      try {
        await this.aws.inputBucket.put(p.key, p.bytes, {
          contentType: CONTENT_TYPES[p.ext],
          metadata: { [META_FILE_NAME]: encodeMetadataValue(p.fileName), 'batch-id': batchId, 'image-id': p.imageId },
        });
        return undefined;
      } catch (err) {
        return reason(err);
      }
    });
    const toSend = planned.filter((_, i) => stored[i] === undefined);

    // 2. Known as queued before any message leaves, so that no result can arrive unannounced.
    const uploadedAt = Date.now();
    if (toSend.length > 0) this.store.addBatch(batchId, toSend.map((p) => ({ imageId: p.imageId, fileName: p.fileName, inputKey: p.key, uploadedAt })));

    // 3. One launch message per stored image, batched with other requests' messages.
    const sent = await Promise.allSettled(this.publisher.publish(toSend.map((p) => p.body)));
    const unsent = toSend.filter((_, i) => sent[i].status === 'rejected');
    const leftBehind = new Set(unsent.length > 0 ? await this.cleanup.remove(unsent.map((p) => p.key)) : []);
    if (unsent.length > 0) this.store.removeImages(batchId, unsent.map((p) => p.imageId));

    const failed: FailedFileDto[] = [
      ...planned.flatMap((p, i) => {
        const why = stored[i];
        return why !== undefined ? [{ fileName: p.fileName, reason: why, cleanedUp: true }] : [];
      }),
      ...unsent.map((p) => {
        const r = sent[toSend.indexOf(p)] as PromiseRejectedResult;
        return { fileName: p.fileName, reason: reason(r.reason), cleanedUp: !leftBehind.has(p.key) };
      }),
    ];
    const accepted = toSend.filter((p) => !unsent.includes(p));
    this.metrics.uploads.inc({ mode, outcome: 'accepted' }, accepted.length);
    this.metrics.uploadBytes.inc({ mode }, accepted.reduce((n, p) => n + p.bytes.length, 0));
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

  /** Every file must be a non-empty JPEG, PNG, WebP or GIF by its bytes; else nothing is accepted. */
  private check(files: IncomingFile[], mode: UploadMode, field: string): { file: IncomingFile; ext: ImageExtension; fileName: string }[] {
    if (files.length === 0) {
      this.metrics.uploads.inc({ mode, outcome: 'refused' });
      throw new BadRequestException(`no files: send ${mode === 'classic' ? 'one image' : 'one or more images'} in the multipart field "${field}"`);
    }
    const out: { file: IncomingFile; ext: ImageExtension; fileName: string }[] = [];
    for (const [i, file] of files.entries()) {
      const fileName = sanitizeFileName(file.originalname, `image-${i + 1}`);
      if (file.size === 0 || file.buffer.length === 0) {
        this.metrics.uploads.inc({ mode, outcome: 'refused' }, files.length);
        throw new BadRequestException(`file "${fileName}" is empty (0 bytes); nothing was accepted`);
      }
      const ext = sniffImageType(file.buffer);
      if (!ext) {
        this.metrics.uploads.inc({ mode, outcome: 'refused' }, files.length);
        throw new UnsupportedMediaTypeException(`file "${fileName}" is not a JPEG, PNG, WebP or GIF image (judged by its bytes); nothing was accepted`);
      }
      out.push({ file, ext, fileName });
    }
    return out;
  }
}

function reason(err: unknown): string {
  if (err instanceof AwsAdapterError) return `${err.operation}: ${err.name}`;
  return err instanceof Error ? err.message : String(err);
}
