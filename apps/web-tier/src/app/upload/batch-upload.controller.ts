import { Controller, Headers, HttpCode, HttpStatus, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { BatchesService } from '../batches/batches.service';
import { BATCH_ID, IDEMPOTENCY_KEY_REUSED, NOT_FOUND, UNAUTHORIZED, UNAVAILABLE } from '../common/api-docs';
import { Tenant } from '../common/api-key.guard';
import { IDEMPOTENCY_HEADER, IDEMPOTENCY_HEADER_DOC, idempotencyKeyOf } from '../common/idempotency';
import { UuidPipe } from '../common/uuid.pipe';
import { ErrorDto } from '../common/error.dto';
import type { UploadResponseDto } from './upload.dto';
import { NOT_AN_IMAGE, UPLOAD_ACCEPTED, UPLOAD_BODY, UPLOAD_FIELD, UPLOAD_LIMITED, UPLOAD_TOO_LARGE, UPLOAD_TOO_SLOW } from './upload.controller';
import { UploadService } from './upload.service';

/** Uploads into an open batch of the caller's tenant. */
@ApiTags('batches')
@ApiSecurity('api-key')
@Controller('api/batches')
export class BatchUploadController {
  constructor(
    private readonly batches: BatchesService,
    private readonly uploads: UploadService,
  ) {}

  @Post(':batchId/images')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ operationId: 'addImages', summary: 'Add images to an open batch', description: 'Multipart field `images`, exactly as `POST /api/images`.' })
  @ApiParam(BATCH_ID)
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiHeader(IDEMPOTENCY_HEADER_DOC)
  @ApiResponse(UPLOAD_ACCEPTED)
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID, no files, the wrong field, an empty file, a malformed body' })
  @ApiResponse(NOT_FOUND)
  @ApiResponse(UPLOAD_TOO_SLOW)
  @ApiResponse({ status: 409, type: ErrorDto, description: '`batch is closed`, or a request with this Idempotency-Key is still in progress (Retry-After)' })
  @ApiResponse(UPLOAD_TOO_LARGE)
  @ApiResponse(NOT_AN_IMAGE)
  @ApiResponse(IDEMPOTENCY_KEY_REUSED)
  @ApiResponse(UNAUTHORIZED)
  @ApiResponse(UPLOAD_LIMITED)
  @ApiResponse(UNAVAILABLE)
  async addImages(
    @Param('batchId', UuidPipe) batchId: string,
    @Tenant() tenant: string,
    @Headers(IDEMPOTENCY_HEADER) key: string | undefined,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<UploadResponseDto> {
    const idempotencyKey = idempotencyKeyOf(key);
    const batch = await this.batches.open(tenant, batchId);
    return this.uploads.accept(req, res, 'api', UPLOAD_FIELD, { tenant, batch, idempotencyKey });
  }
}
