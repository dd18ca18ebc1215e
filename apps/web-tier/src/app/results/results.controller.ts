import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { UuidPipe } from '../common/uuid.pipe';
import { BatchDto, ErrorDto, ImageResultDto } from './dto';
import { ResultsService } from './results.service';
import { ResultsStore, type ImageRecord } from './results.store';

/** A comment line now and then keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

@ApiTags('results')
@ApiSecurity('api-key')
@Controller('api')
export class ResultsController {
  constructor(
    private readonly results: ResultsService,
    private readonly store: ResultsStore,
  ) {}

  @Get('images/:imageId')
  @ApiOperation({ summary: "One image's status and result" })
  @ApiParam({ name: 'imageId', format: 'uuid' })
  @ApiResponse({ status: 200, type: ImageResultDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID' })
  @ApiResponse({ status: 404, type: ErrorDto })
  image(@Param('imageId', UuidPipe) imageId: string): Promise<ImageResultDto> {
    return this.results.image(imageId);
  }

  @Get('batches/:batchId')
  @ApiOperation({ summary: "A batch's images with their status and results" })
  @ApiParam({ name: 'batchId', format: 'uuid' })
  @ApiResponse({ status: 200, type: BatchDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID' })
  @ApiResponse({ status: 404, type: ErrorDto })
  batch(@Param('batchId', UuidPipe) batchId: string): Promise<BatchDto> {
    return this.results.batch(batchId);
  }

  @Get('batches/:batchId/events')
  @ApiOperation({
    summary: "A batch's results as server-sent events",
    description:
      'One `result` event per image (data: an ImageResult; results already known come first), then one `done` event ' +
      '(data: `{ batchId, total, done, failed }`), then the stream ends.',
  })
  @ApiParam({ name: 'batchId', format: 'uuid' })
  @ApiProduces('text/event-stream')
  @ApiResponse({ status: 200, description: 'event: result / event: done', schema: { type: 'string' } })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID' })
  @ApiResponse({ status: 404, type: ErrorDto })
  async events(@Param('batchId', UuidPipe) batchId: string, @Res() res: Response): Promise<void> {
    const sent = new Set<string>();
    const early: ImageRecord[] = [];
    let onResult = (r: ImageRecord) => void early.push(r);
    // Subscribe before reading the snapshot so that no result falls in between.
    const unsubscribe = this.store.onBatchResult(batchId, (r) => onResult(r));
    let records: ImageRecord[];
    try {
      records = await this.results.batchRecords(batchId);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    const ids = new Set(records.map((r) => r.imageId));
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    let closed = false;
    const counts = { done: 0, failed: 0 };
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      stopOnShutdown();
      res.end();
    };
    const stopOnShutdown = this.store.onShutdown(finish);
    res.on('close', finish);

    const writeDone = () => res.write(`event: done\ndata: ${JSON.stringify({ batchId, total: ids.size, ...counts })}\n\n`);
    let sending = Promise.resolve();
    let written = 0;
    onResult = (r: ImageRecord) => {
      if (closed || r.status === 'queued' || sent.has(r.imageId) || !ids.has(r.imageId)) return;
      sent.add(r.imageId);
      if (r.status === 'done') counts.done++;
      else counts.failed++;
      // DTOs are built asynchronously (presigned URLs): chain the writes to keep events in order.
      sending = sending.then(async () => {
        const dto = await this.results.toDto(r);
        if (closed) return;
        res.write(`event: result\nid: ${r.imageId}\ndata: ${JSON.stringify(dto)}\n\n`);
        if (++written === ids.size) {
          writeDone();
          finish();
        }
      });
    };
    for (const r of [...records, ...early.splice(0)]) onResult(r);
    if (ids.size === 0) {
      writeDone();
      finish();
    }
  }
}
