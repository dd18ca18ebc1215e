import {
  BadRequestException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  mixin,
  PayloadTooLargeException,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
  type Type,
} from '@nestjs/common';
import { AppConfig } from '@app/config';
import type { Request, Response } from 'express';
import multer, { MulterError } from 'multer';
import type { Observable } from 'rxjs';
import { formatBytes } from './upload.errors';

/** Room for the multipart boundaries and part headers around each file. */
const PART_OVERHEAD_BYTES = 1024;

/**
 * Parses a multipart upload into memory with the configured limits, and turns
 * each limit multer enforces into a clear 4xx. Limits are checked while the
 * body streams in, so an over-size file is refused without buffering it whole.
 */
export function MultipartInterceptor(field: string, single: boolean): Type<NestInterceptor> {
  @Injectable()
  class Interceptor implements NestInterceptor {
    private readonly handler: (req: Request, res: Response, next: (err?: unknown) => void) => void;
    private readonly maxFiles: number;
    private readonly maxFileBytes: number;

    constructor(@Inject(AppConfig) config: AppConfig) {
      this.maxFiles = single ? 1 : config.web.maxFiles;
      this.maxFileBytes = config.web.maxFileBytes;
      const upload = multer({
        storage: multer.memoryStorage(),
        // Browsers send file names as raw UTF-8; multer's default would read them as Latin-1.
        defParamCharset: 'utf8',
        limits: {
          fileSize: this.maxFileBytes,
          files: this.maxFiles,
          fields: 20,
          parts: this.maxFiles + 20,
        },
      });
      this.handler = upload.array(field, this.maxFiles) as unknown as typeof this.handler;
    }

    async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
      const http = context.switchToHttp();
      const req = http.getRequest<Request>();
      const res = http.getResponse<Response>();
      if (!req.is('multipart/form-data')) {
        throw new BadRequestException(`expected a multipart/form-data upload with the image${single ? '' : 's'} in the field "${field}"`);
      }
      // Refuse a body that cannot fit before reading any of it.
      const declared = Number(req.headers['content-length'] ?? NaN);
      const most = this.maxFiles * (this.maxFileBytes + PART_OVERHEAD_BYTES) + 64 * 1024;
      if (Number.isFinite(declared) && declared > most) {
        res.setHeader('Connection', 'close');
        throw new PayloadTooLargeException(`the upload takes ${formatBytes(declared)}, more than ${this.maxFiles} file(s) of at most ${formatBytes(this.maxFileBytes)} can`);
      }
      await new Promise<void>((resolve, reject) =>
        this.handler(req, res, (err?: unknown) => (err ? reject(this.toHttp(err)) : resolve())),
      );
      return next.handle();
    }

    private toHttp(err: unknown): unknown {
      if (!(err instanceof MulterError)) {
        // busboy's parse errors ("Unexpected end of form", "Malformed part header").
        if (err instanceof Error && !(err instanceof HttpException)) return new BadRequestException(`malformed multipart body: ${err.message}`);
        return err;
      }
      switch (err.code) {
        case 'LIMIT_FILE_SIZE':
          return new PayloadTooLargeException(`file "${err.field ?? field}" is larger than ${formatBytes(this.maxFileBytes)}`);
        case 'LIMIT_FILE_COUNT':
        case 'LIMIT_PART_COUNT':
          return new HttpException(
            single ? `send exactly one file in the field "${field}"` : `too many files: at most ${this.maxFiles} per upload`,
            single ? HttpStatus.BAD_REQUEST : HttpStatus.PAYLOAD_TOO_LARGE,
          );
        case 'LIMIT_UNEXPECTED_FILE':
          return new BadRequestException(
            err.field === field
              ? `too many files in the field "${field}": at most ${this.maxFiles}`
              : `unexpected file field "${err.field}": send the image${single ? '' : 's'} in the field "${field}"`,
          );
        default:
          return new BadRequestException(`bad multipart upload: ${err.message}`);
      }
    }
  }
  return mixin(Interceptor);
}
