import { randomUUID } from 'node:crypto';
import { BadRequestException, ConflictException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { AwsResources } from '@app/aws';
import { announcedKey, attemptKey, resultKey } from '@app/contracts';
import type { Response } from 'express';
import { mapLimit } from '../results/map-limit';
import { batchSummary, ResultsService } from '../results/results.service';
import { ResultsStore } from '../results/results.store';
import { BatchExport, type ExportFormat } from './batch-export';
import { BadCursorError, BatchIndex, type BatchMeta, type IndexedBatch } from './batch-index';
import { BatchFinished } from './batch-finished';
import type { BatchDto, BatchListDto, BatchSummaryDto, CreateBatchDto } from './batches.dto';

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

/**
 * Batches as jobs: create, close, list, read, export, delete, always as the
 * caller's tenant. Another tenant's batch is "not found", like one that never
 * existed, so ids reveal nothing.
 */
@Injectable()
export class BatchesService {
  private readonly logger = new Logger(BatchesService.name);

  constructor(
    private readonly index: BatchIndex,
    private readonly results: ResultsService,
    private readonly store: ResultsStore,
    private readonly exporter: BatchExport,
    private readonly finished: BatchFinished,
    private readonly aws: AwsResources,
  ) {}

  async create(tenant: string, body: CreateBatchDto): Promise<BatchSummaryDto> {
    const meta: BatchMeta = { v: 1, batchId: randomUUID(), tenant, createdAt: new Date().toISOString(), closed: false, images: [], ...body };
    await this.index.create(meta);
    return batchSummary(meta, []);
  }

  /** The tenant's batch with its images; 404 when the tenant has none of that id. */
  async indexed(tenant: string, batchId: string): Promise<IndexedBatch> {
    const found = await this.index.read(tenant, batchId);
    if (!found) throw notFound(batchId);
    return found;
  }

  /** The tenant's open batch, for adding images: 404 unknown, 409 closed. */
  async open(tenant: string, batchId: string): Promise<BatchMeta> {
    const meta = await this.index.meta(tenant, batchId);
    if (!meta) throw notFound(batchId);
    if (meta.closed) throw new ConflictException('batch is closed');
    return meta;
  }

  async get(tenant: string, batchId: string): Promise<BatchDto> {
    const dto = await this.results.batch(await this.indexed(tenant, batchId));
    if (dto.finished) this.finished.announce(tenant, dto);
    return dto;
  }

  async close(tenant: string, batchId: string): Promise<BatchDto> {
    if (!(await this.index.close(tenant, batchId))) throw notFound(batchId);
    return this.get(tenant, batchId);
  }

  async list(tenant: string, limit = DEFAULT_LIST_LIMIT, cursor?: string): Promise<BatchListDto> {
    let page;
    try {
      page = await this.index.list(tenant, limit, cursor);
    } catch (err) {
      if (err instanceof BadCursorError) throw new BadRequestException(err.message);
      throw err;
    }
    const batches = await mapLimit(page.batches, 8, async (meta) => {
      const indexed = await this.index.read(tenant, meta.batchId);
      return batchSummary(meta, indexed ? await this.results.batchRecords(indexed) : []);
    });
    return page.nextCursor ? { batches, nextCursor: page.nextCursor } : { batches };
  }

  async export(tenant: string, batchId: string, format: ExportFormat, res: Response): Promise<void> {
    const indexed = await this.indexed(tenant, batchId);
    const records = await this.results.batchRecords(indexed);
    await this.exporter.send(batchId, records, format, res);
  }

  /**
   * Removes the batch's inputs, results and index. The index goes last, so a
   * crash half-way leaves a batch that a second DELETE finishes; from then on
   * every route answers 404 for it, on every tier (they all read the index).
   */
  async delete(tenant: string, batchId: string): Promise<void> {
    const { meta, images } = await this.indexed(tenant, batchId);
    const inputs = (await this.aws.inputBucket.list(`${batchId}/`)).map((o) => o.key);
    await mapLimit(inputs, 8, (key) => this.aws.inputBucket.delete(key));
    const outputs = images.flatMap((i) => [resultKey(i.imageId), announcedKey(i.imageId), attemptKey(i.imageId)]);
    await mapLimit(outputs, 8, (key) => this.aws.outputBucket.delete(key));
    await this.index.remove(meta, images.map((i) => i.imageId));
    this.store.removeImages(batchId, images.map((i) => i.imageId));
    this.logger.log(`batch ${batchId} of ${tenant} deleted: ${inputs.length} input(s), ${images.length} result(s)`);
  }
}

function notFound(batchId: string): NotFoundException {
  return new NotFoundException(`no batch ${batchId}`);
}
