import {
  Controller,
  GatewayTimeoutException,
  HttpStatus,
  Post,
  Res,
  ServiceUnavailableException,
  UnprocessableEntityException,
  BadGatewayException,
  Headers,
  Req,
  UseGuards,
} from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiProduces, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { MetricsService } from '../ops/metrics.service';
import { ErrorDto } from '../common/error.dto';
import { ResultTimeoutError, ShuttingDownError } from '../results/results.store';
import { Tenant } from '../common/api-key.guard';
import { IDEMPOTENCY_HEADER, IDEMPOTENCY_HEADER_DOC, idempotencyKeyOf } from '../common/idempotency';
import { WaitingConnectionGuard } from '../common/waiting-connection.guard';
import { ClassicService, IMAGE_ID_HEADER } from './classic.service';
import { baseName } from './file-name';
import { UPLOAD_TOO_SLOW } from './upload.controller';
import { UploadService } from './upload.service';

export const CLASSIC_FIELD = 'myfile';

/** The `Image-Id` response header, for OpenAPI. */
const IMAGE_ID = {
  [IMAGE_ID_HEADER]: {
    description: 'The image this request classified: with an Idempotency-Key, every retry names the image of the first request',
    schema: { type: 'string', format: 'uuid' },
  },
};

/**
 * The classic one-file mode of the original load generator: one image in
 * `myfile`, the request held until its result, answered as `name:label`.
 */
@ApiTags('classic')
@ApiSecurity('api-key')
@Controller()
export class ClassicController {
  constructor(
    private readonly uploads: UploadService,
    private readonly classic: ClassicService,
    private readonly metrics: MetricsService,
  ) {}

  @Post()
  @UseGuards(WaitingConnectionGuard)
  @ApiOperation({
    operationId: 'classify',
    summary: 'Classify one image and wait for the answer (classic mode)',
    description:
      'Holds the request until the result arrives (at most CLASSIC_TIMEOUT_SECONDS) and answers `<file name without extension>:<label>`. ' +
      'The `Image-Id` header names the image. A retry with the same `Idempotency-Key` and the same file stores nothing new: ' +
      'it waits for the first request\'s image and answers with its result.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', required: [CLASSIC_FIELD], properties: { [CLASSIC_FIELD]: { type: 'string', format: 'binary' } } } })
  @ApiProduces('text/plain')
  @ApiHeader(IDEMPOTENCY_HEADER_DOC)
  @ApiResponse({ status: 200, description: 'The label', schema: { type: 'string', example: 'test_0:bathtub' }, headers: IMAGE_ID })
  @ApiResponse({ status: 400, type: ErrorDto })
  @ApiResponse({ status: 401, type: ErrorDto, description: 'API key missing or wrong (when keys are configured)' })
  @ApiResponse({ status: 409, type: ErrorDto, description: 'A request with this Idempotency-Key is still being stored (Retry-After)' })
  @ApiResponse({ status: 413, type: ErrorDto })
  @ApiResponse({ status: 415, type: ErrorDto })
  @ApiResponse({ status: 422, type: ErrorDto, description: 'The worker could not classify the image (permanent), or the Idempotency-Key was used for a different request', headers: IMAGE_ID })
  @ApiResponse(UPLOAD_TOO_SLOW)
  @ApiResponse({ status: 429, type: ErrorDto, description: 'Rate limit, or too many uploads in flight or open event streams and classic requests (Retry-After)' })
  @ApiResponse({ status: 502, type: ErrorDto, description: 'Classification failed after every attempt', headers: IMAGE_ID })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'Storage or queue unavailable, or the web tier is stopping (then with `Image-Id`: retry with the same Idempotency-Key)' })
  @ApiResponse({ status: 504, type: ErrorDto, description: 'No result within the timeout; the image id lets you ask later', headers: IMAGE_ID })
  async classify(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @Tenant() tenant: string,
    @Headers(IDEMPOTENCY_HEADER) key: string | undefined,
  ): Promise<string> {
    const idempotencyKey = idempotencyKeyOf(key);
    const { batchId, images } = await this.uploads.accept(req, res, 'classic', CLASSIC_FIELD, { tenant, idempotencyKey });
    const { imageId, fileName } = images[0];
    // Named before the wait, so every answer from here on (an error too) says which image it is about.
    res.setHeader(IMAGE_ID_HEADER, imageId);
    // A client that gives up stops being waited for.
    const gone = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) gone.abort(new Error('client went away'));
    };
    res.once('close', onClose);
    try {
      const record = await this.classic.waitForResult({ imageId, batchId, fileName }, gone.signal);
      const result = record.result;
      if (!result) throw new Error(`image ${imageId} resolved without a result`);
      if (result.status === 'error') {
        this.metrics.classicWaiting.inc({ outcome: 'error' });
        throw result.permanent
          ? new UnprocessableEntityException(`${fileName}: ${result.reason}`)
          : new BadGatewayException(`${fileName}: classification failed after ${result.attempt} attempt(s): ${result.reason}`);
      }
      this.metrics.classicWaiting.inc({ outcome: 'label' });
      res.status(HttpStatus.OK).type('text/plain');
      return `${baseName(fileName)}:${result.label}`;
    } catch (err) {
      if (err instanceof ResultTimeoutError) {
        this.metrics.classicWaiting.inc({ outcome: 'timeout' });
        throw new GatewayTimeoutException({ message: `${err.message}; ask later at /api/images/${imageId}`, imageId });
      }
      if (err instanceof ShuttingDownError) {
        this.metrics.classicWaiting.inc({ outcome: 'timeout' });
        throw new ServiceUnavailableException({ message: `${err.message}; ask later at /api/images/${imageId}`, imageId });
      }
      if (gone.signal.aborted) this.metrics.classicWaiting.inc({ outcome: 'gone' });
      throw err;
    } finally {
      res.off('close', onClose);
    }
  }
}
