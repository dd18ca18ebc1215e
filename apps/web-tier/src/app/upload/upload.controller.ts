import { Controller, HttpCode, HttpStatus, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { ErrorDto, UploadResponseDto } from '../results/dto';
import type { Request, Response } from 'express';
import { UploadService } from './upload.service';

export const UPLOAD_FIELD = 'images';

@ApiTags('images')
@ApiSecurity('api-key')
@Controller('api/images')
export class UploadController {
  constructor(private readonly uploads: UploadService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Upload images to classify',
    description:
      'One or more images (JPEG, PNG, WebP or GIF, judged by their bytes) in the multipart field `images`. ' +
      'Each is stored and queued; results arrive later at `GET /api/images/{imageId}`, `GET /api/batches/{batchId}` ' +
      'and as server-sent events at `GET /api/batches/{batchId}/events`. A bad file refuses the whole upload.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: [UPLOAD_FIELD],
      properties: { [UPLOAD_FIELD]: { type: 'array', items: { type: 'string', format: 'binary' } } },
    },
  })
  @ApiResponse({ status: 202, type: UploadResponseDto, description: 'Stored and queued' })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'No files, the wrong field, an empty file, a malformed body' })
  @ApiResponse({ status: 401, type: ErrorDto, description: 'API key missing or wrong (when keys are configured)' })
  @ApiResponse({ status: 413, type: ErrorDto, description: 'A file over the size limit, or too many files' })
  @ApiResponse({ status: 415, type: ErrorDto, description: 'A file that is not a JPEG, PNG, WebP or GIF image' })
  @ApiResponse({ status: 429, type: ErrorDto, description: 'Rate limit' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'Storage or queue unavailable (`failed` lists the files), or uploads hold UPLOAD_MAX_BYTES_IN_FLIGHT (Retry-After)' })
  upload(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<UploadResponseDto> {
    return this.uploads.accept(req, res, 'api', UPLOAD_FIELD);
  }
}
