import { Controller, Get, Headers, Param, Res, UseGuards } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { BatchesService } from '../batches/batches.service';
import { Tenant } from '../common/api-key.guard';
import { UuidPipe } from '../common/uuid.pipe';
import { WaitingConnectionGuard } from '../common/waiting-connection.guard';
import { ErrorDto } from '../common/error.dto';
import { BatchEvents } from './batch-events';

@ApiTags('events')
@ApiSecurity('api-key')
@Controller('api/batches')
export class EventsController {
  constructor(
    private readonly batches: BatchesService,
    private readonly batchEvents: BatchEvents,
  ) {}

  @Get(':batchId/events')
  @UseGuards(WaitingConnectionGuard)
  @ApiOperation({
    operationId: 'followBatch',
    summary: "A batch's results as server-sent events",
    description:
      'One `result` event per image (data: an ImageResult; results already known come first), then, once the batch is ' +
      'closed and every image has its result, one `done` event (data: `{ batchId, total, done, failed }`), then the ' +
      'stream ends. Each `result` has an `id`; a client that reconnects with `Last-Event-ID` gets only what it missed. ' +
      'Comment lines keep an idle stream open; a stream older than SSE_MAX_LIFETIME_SECONDS ends without `done`: reconnect.',
  })
  @ApiParam({ name: 'batchId', format: 'uuid' })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'The id of the last event received, when reconnecting' })
  @ApiProduces('text/event-stream')
  @ApiResponse({ status: 200, description: 'event: result / event: done', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID' })
  @ApiResponse({ status: 401, type: ErrorDto, description: 'API key missing or wrong (when keys are configured)' })
  @ApiResponse({ status: 404, type: ErrorDto, description: "No such batch (or another tenant's)" })
  @ApiResponse({ status: 429, type: ErrorDto, description: 'Rate limit, or too many open event streams and classic requests (per client address, per tenant, in all; Retry-After)' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'Storage unavailable (Retry-After)' })
  async events(
    @Param('batchId', UuidPipe) batchId: string,
    @Tenant() tenant: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    const indexed = await this.batches.indexed(tenant, batchId);
    await this.batchEvents.stream(indexed, lastEventId, res);
  }
}
