import { Controller, Headers, HttpCode, HttpStatus, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { IDEMPOTENCY_KEY_REUSED, UNAUTHORIZED } from '../common/api-docs';
import { ErrorDto } from '../common/error.dto';
import { UploadResponseDto } from './upload.dto';
import type { Request, Response } from 'express';
import { Tenant } from '../common/api-key.guard';
import { IDEMPOTENCY_HEADER, IDEMPOTENCY_HEADER_DOC, idempotencyKeyOf } from '../common/idempotency';
import { UploadService } from './upload.service';

/** The multipart body of an upload, for OpenAPI. */
export const UPLOAD_BODY = {
  schema: {
    type: 'object',
    required: ['images'],
    properties: { images: { type: 'array', items: { type: 'string', format: 'binary' } } },
  },
};

/** The answers both upload routes give alike, for OpenAPI. */
export const UPLOAD_ACCEPTED = { status: 202, type: UploadResponseDto, description: 'Stored and queued' };
export const UPLOAD_TOO_LARGE = { status: 413, type: ErrorDto, description: 'A file over the size limit, or too many files' };
export const NOT_AN_IMAGE = { status: 415, type: ErrorDto, description: 'A file that is not a JPEG, PNG, WebP or GIF image' };
/** An upload cut for its pace, for OpenAPI. */
export const UPLOAD_TOO_SLOW = { status: 408, type: ErrorDto, description: 'The body came slower than UPLOAD_MIN_BYTES_PER_SECOND; what it stored was removed, nothing queued' };
/** The rate limit and the caps on uploads in flight, for OpenAPI. */
export const UPLOAD_LIMITED = { status: 429, type: ErrorDto, description: 'Rate limit, or too many uploads in flight per client address or per tenant (Retry-After)' };

export const UPLOAD_FIELD = 'images';

@ApiTags('images')
@ApiSecurity('api-key')
@Controller('api/images')
export class UploadController {
  constructor(private readonly uploads: UploadService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    operationId: 'uploadImages',
    summary: 'Upload images to classify (a new batch, closed at once)',
    description:
      'One or more images (JPEG, PNG, WebP or GIF, judged by their bytes) in the multipart field `images`. ' +
      'Each is stored and queued; results arrive later at `GET /api/images/{imageId}`, `GET /api/batches/{batchId}` ' +
      'and as server-sent events at `GET /api/batches/{batchId}/events`. A bad file refuses the whole upload.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiHeader(IDEMPOTENCY_HEADER_DOC)
  @ApiResponse(UPLOAD_ACCEPTED)
  @ApiResponse({ status: 400, type: ErrorDto, description: 'No files, the wrong field, an empty file, a malformed body' })
  @ApiResponse(UNAUTHORIZED)
  @ApiResponse(UPLOAD_TOO_SLOW)
  @ApiResponse({ status: 409, type: ErrorDto, description: 'A request with this Idempotency-Key is still in progress (Retry-After)' })
  @ApiResponse(UPLOAD_TOO_LARGE)
  @ApiResponse(NOT_AN_IMAGE)
  @ApiResponse(IDEMPOTENCY_KEY_REUSED)
  @ApiResponse(UPLOAD_LIMITED)
  @ApiResponse({ status: 503, type: ErrorDto, description: 'Storage or queue unavailable (`failed` lists the files), or uploads hold UPLOAD_MAX_BYTES_IN_FLIGHT (Retry-After)' })
  upload(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @Tenant() tenant: string,
    @Headers(IDEMPOTENCY_HEADER) key: string | undefined,
  ): Promise<UploadResponseDto> {
    return this.uploads.accept(req, res, 'api', UPLOAD_FIELD, { tenant, idempotencyKey: idempotencyKeyOf(key) });
  }
}
