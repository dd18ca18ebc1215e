import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import { AwsAdapterError } from '@app/aws';
import type { Response } from 'express';

/** The one error shape of this API: `{ statusCode, error, message }`, plus details some errors carry. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  [detail: string]: unknown;
}

export function errorBody(statusCode: number, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...details };
}

/**
 * Every error leaves as JSON `{ statusCode, error, message }`: Nest's own
 * exceptions (whose bodies vary: the throttler's has no `error`, validation's
 * message is an array), storage and queue failures (503: the client may try
 * again), and anything unexpected (500, details only in the log).
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    if (res.headersSent) {
      // A stream (SSE) already started: nothing to answer, just end it.
      res.end();
      return;
    }
    // An error may say when to come back (the upload memory cap, a keyed request still in progress); a 503 else says 5 s.
    const after = body['retryAfterSeconds'];
    if (typeof after === 'number') res.setHeader('Retry-After', String(after));
    else if (body.statusCode === HttpStatus.SERVICE_UNAVAILABLE) res.setHeader('Retry-After', '5');
    res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (typeof response === 'string') return errorBody(status, response);
      const details = { ...(response as Record<string, unknown>) };
      const message = details['message'];
      // Status and name are set below from the status code.
      delete details['statusCode'];
      delete details['error'];
      delete details['message'];
      const text = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : exception.message;
      return errorBody(status, text.replace(/^ThrottlerException: /, ''), details);
    }
    if (exception instanceof AwsAdapterError) {
      this.logger.warn(`storage or queue failure: ${exception.message}`);
      return errorBody(HttpStatus.SERVICE_UNAVAILABLE, `storage or queue unavailable (${exception.operation}: ${exception.name})`);
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return errorBody(HttpStatus.INTERNAL_SERVER_ERROR, 'internal error');
  }
}
