import { Controller, Get, Headers, Param, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { UuidPipe } from '../common/uuid.pipe';
import { BatchDto, ErrorDto, ImageResultDto } from './dto';
import { ResultsService } from './results.service';
import { BatchEvents } from './batch-events';

@ApiTags('results')
@ApiSecurity('api-key')
@Controller('api')
export class ResultsController {
  constructor(
    private readonly results: ResultsService,
    private readonly batchEvents: BatchEvents,
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
      '(data: `{ batchId, total, done, failed }`), then the stream ends. Each `result` has an `id`; a client that ' +
      'reconnects with `Last-Event-ID` gets only what it missed. Comment lines keep an idle stream open; a stream ' +
      'older than SSE_MAX_LIFETIME_SECONDS ends without `done`: reconnect.',
  })
  @ApiParam({ name: 'batchId', format: 'uuid' })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'The id of the last event received, when reconnecting' })
  @ApiProduces('text/event-stream')
  @ApiResponse({ status: 200, description: 'event: result / event: done', schema: { type: 'string' } })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID' })
  @ApiResponse({ status: 404, type: ErrorDto })
  events(@Param('batchId', UuidPipe) batchId: string, @Headers('last-event-id') lastEventId: string | undefined, @Res() res: Response): Promise<void> {
    return this.batchEvents.stream(batchId, lastEventId, res);
  }
}
