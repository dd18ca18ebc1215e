import { BadRequestException, Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiHeader, ApiOperation, ApiParam, ApiProduces, ApiQuery, ApiResponse, ApiSecurity, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { Response } from 'express';
import { Tenant } from '../common/api-key.guard';
import { UuidPipe } from '../common/uuid.pipe';
import { ErrorDto } from '../common/error.dto';
import { ImageResultDto } from '../results/dto';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf, IdempotencyStore, requestHash } from '../common/idempotency';
import { BATCH_ID, IDEMPOTENCY_KEY_REUSED, NOT_FOUND, NOT_UUID, RATE_LIMITED, UNAUTHORIZED, UNAVAILABLE } from '../common/api-docs';
import { IDEMPOTENCY_HEADER_DOC } from '../common/idempotency';
import { CSV_COLUMNS, EXPORT_FORMATS, type ExportFormat } from './batch-export';
import { BatchDto, BatchListDto, BatchSummaryDto, CreateBatchDto, parseCreateBatch } from './batches.dto';
import { BatchesService, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './batches.service';
import { WebhookPolicy } from '../webhooks/webhook-policy';


/** Batches as jobs: created empty, filled by uploads, closed, read, exported, deleted; always the caller's tenant's own. */
@ApiTags('batches')
@ApiSecurity('api-key')
@ApiExtraModels(ImageResultDto)
@ApiResponse(UNAUTHORIZED)
@ApiResponse(RATE_LIMITED)
@ApiResponse(UNAVAILABLE)
@Controller('api/batches')
export class BatchesController {
  constructor(
    private readonly batches: BatchesService,
    private readonly idempotency: IdempotencyStore,
    private readonly webhooks: WebhookPolicy,
  ) {}

  @Post()
  @ApiOperation({ operationId: 'createBatch', summary: 'Create an empty, open batch', description: 'Add images with `POST /api/batches/{batchId}/images`, then close it.' })
  @ApiBody({ type: CreateBatchDto, required: false })
  @ApiHeader(IDEMPOTENCY_HEADER_DOC)
  @ApiResponse({ status: 201, type: BatchSummaryDto, description: 'Created; `Location` names it', headers: { Location: { description: '/api/batches/{batchId}', schema: { type: 'string' } } } })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'A bad label or callbackUrl (in production: not https, or a private address; or the tenant has no webhook secret), an unknown field, a malformed Idempotency-Key' })
  @ApiResponse({ status: 409, type: ErrorDto, description: 'A request with this Idempotency-Key is still in progress (Retry-After)' })
  @ApiResponse(IDEMPOTENCY_KEY_REUSED)
  async create(
    @Tenant() tenant: string,
    @Body() body: unknown,
    @Headers(IDEMPOTENCY_HEADER) key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<BatchSummaryDto> {
    const fields = parseCreateBatch(body);
    this.webhooks.check(tenant, fields.callbackUrl);
    const idempotencyKey = idempotencyKeyOf(key);
    let created: BatchSummaryDto;
    if (idempotencyKey) {
      const outcome = await this.idempotency.begin<BatchSummaryDto>(tenant, idempotencyKey, requestHash(['createBatch', fields]));
      if (outcome.kind === 'replay') {
        created = outcome.answer.body;
      } else {
        created = await this.batches.create(tenant, fields).catch(async (err: unknown) => {
          await outcome.claim.abandon();
          throw err;
        });
        await outcome.claim.finish({ statusCode: HttpStatus.CREATED, body: created });
      }
    } else {
      created = await this.batches.create(tenant, fields);
    }
    this.webhooks.created(tenant, created);
    res.status(HttpStatus.CREATED).setHeader('Location', `/api/batches/${created.batchId}`);
    return created;
  }

  @Post(':batchId/close')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ operationId: 'closeBatch', summary: 'Close a batch: no more images; it finishes once every image has a result', description: 'Idempotent.' })
  @ApiParam(BATCH_ID)
  @ApiResponse({ status: 200, type: BatchDto })
  @ApiResponse(NOT_UUID)
  @ApiResponse(NOT_FOUND)
  close(@Param('batchId', UuidPipe) batchId: string, @Tenant() tenant: string): Promise<BatchDto> {
    return this.batches.close(tenant, batchId);
  }

  @Get()
  @ApiOperation({ operationId: 'listBatches', summary: "The tenant's batches, newest first, a page at a time" })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT } })
  @ApiQuery({ name: 'cursor', required: false, description: 'The `nextCursor` of the previous page (opaque)' })
  @ApiResponse({ status: 200, type: BatchListDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'A limit out of range, a cursor this API did not give out' })
  list(@Tenant() tenant: string, @Query('limit') limit: string | undefined, @Query('cursor') cursor: string | undefined): Promise<BatchListDto> {
    return this.batches.list(tenant, parseLimit(limit), cursor === undefined || cursor === '' ? undefined : cursor);
  }

  @Get(':batchId')
  @ApiOperation({ operationId: 'getBatch', summary: "A batch's images with their status and results" })
  @ApiParam(BATCH_ID)
  @ApiResponse({ status: 200, type: BatchDto })
  @ApiResponse(NOT_UUID)
  @ApiResponse(NOT_FOUND)
  get(@Param('batchId', UuidPipe) batchId: string, @Tenant() tenant: string): Promise<BatchDto> {
    return this.batches.get(tenant, batchId);
  }

  @Get(':batchId/results')
  @ApiOperation({
    operationId: 'exportResults',
    summary: "Every image's result as one download (JSON array or CSV), streamed",
    description: `CSV columns: \`${CSV_COLUMNS.join(',')}\`; \`top5\` is \`label:score\` pairs joined with \`|\`.`,
  })
  @ApiParam(BATCH_ID)
  @ApiQuery({ name: 'format', required: false, enum: EXPORT_FORMATS, description: 'Default json' })
  @ApiProduces('application/json', 'text/csv')
  @ApiResponse({
    status: 200,
    description: 'An attachment (Content-Disposition)',
    content: {
      'application/json': { schema: { type: 'array', items: { $ref: getSchemaPath(ImageResultDto) } } },
      'text/csv': { schema: { type: 'string' } },
    },
  })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID, or a format other than json or csv' })
  @ApiResponse(NOT_FOUND)
  async exportResults(
    @Param('batchId', UuidPipe) batchId: string,
    @Tenant() tenant: string,
    @Query('format') format: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    await this.batches.export(tenant, batchId, parseFormat(format), res);
  }

  @Delete(':batchId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'deleteBatch', summary: 'Delete a batch: its inputs, results and index; afterwards it is 404 everywhere' })
  @ApiParam(BATCH_ID)
  @ApiResponse({ status: 204, description: 'Deleted' })
  @ApiResponse(NOT_UUID)
  @ApiResponse(NOT_FOUND)
  async delete(@Param('batchId', UuidPipe) batchId: string, @Tenant() tenant: string): Promise<void> {
    await this.batches.delete(tenant, batchId);
  }
}

function parseLimit(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_LIST_LIMIT;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIST_LIMIT) throw new BadRequestException(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return n;
}

function parseFormat(value: string | undefined): ExportFormat {
  if (value === undefined || value === '') return 'json';
  if (!(EXPORT_FORMATS as readonly string[]).includes(value)) throw new BadRequestException(`format must be one of ${EXPORT_FORMATS.join(', ')}`);
  return value as ExportFormat;
}
