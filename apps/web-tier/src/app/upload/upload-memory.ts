import { HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { AppConfig, ConfigError } from '@app/config';
import { errorBody } from '../common/http-error.filter';
import { MetricsService } from '../ops/metrics.service';
import { formatBytes } from './upload.errors';

/** How long a client refused for memory is told to wait, seconds. */
export const BUSY_RETRY_AFTER_SECONDS = 2;

/**
 * Upload bytes held in memory, across all requests. Before a request's body
 * is read it reserves what it may hold: its declared length, or one file's
 * worth (MAX_FILE_BYTES) when that is less or no length is declared; a
 * request only ever holds one file's worth at a time (see MultipartStream). A
 * reservation beyond UPLOAD_MAX_BYTES_IN_FLIGHT is refused (503 +
 * Retry-After) before a byte is read. The bytes actually buffered are counted
 * too, with their peak, for /metrics and the memory tests.
 */
@Injectable()
export class UploadMemory {
  private reserved = 0;
  private buffered = 0;
  private peak = 0;
  readonly cap: number;
  readonly perRequest: number;

  constructor(
    config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.cap = config.web.uploadMaxBytesInFlight;
    this.perRequest = config.web.maxFileBytes;
  }

  /** UPLOAD_MAX_BYTES_IN_FLIGHT below MAX_FILE_BYTES would refuse every largest file. */
  static check(config: AppConfig): void {
    const { uploadMaxBytesInFlight: cap, maxFileBytes } = config.web;
    if (cap < maxFileBytes) {
      throw new ConfigError([`UPLOAD_MAX_BYTES_IN_FLIGHT: ${cap} is less than MAX_FILE_BYTES (${maxFileBytes}): no upload of a largest file could ever be taken`]);
    }
  }

  /** Reserves room for a request that declared `declaredBytes` (NaN: unknown); throws 503 when there is none. */
  reserve(declaredBytes: number): Reservation {
    const want = Number.isFinite(declaredBytes) && declaredBytes >= 0 ? Math.min(declaredBytes, this.perRequest) : this.perRequest;
    if (this.reserved + want > this.cap) {
      this.metrics.uploadsBusy.inc();
      throw new HttpException(
        errorBody(
          HttpStatus.SERVICE_UNAVAILABLE,
          `busy: uploads already hold ${formatBytes(this.reserved)} of ${formatBytes(this.cap)} in memory; try again in ${BUSY_RETRY_AFTER_SECONDS} s`,
          { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS },
        ),
        HttpStatus.SERVICE_UNAVAILABLE,
      );
    }
    this.reserved += want;
    this.metrics.uploadReservedBytes.set(this.reserved);
    let released = false;
    return {
      bytes: want,
      release: () => {
        if (released) return;
        released = true;
        this.reserved -= want;
        this.metrics.uploadReservedBytes.set(this.reserved);
      },
    };
  }

  /** Counts bytes buffered (positive) or let go (negative). */
  count(delta: number): void {
    this.buffered += delta;
    if (this.buffered > this.peak) {
      this.peak = this.buffered;
      this.metrics.uploadBufferedPeakBytes.set(this.peak);
    }
    this.metrics.uploadBufferedBytes.set(this.buffered);
  }

  get stats(): { reserved: number; buffered: number; peak: number } {
    return { reserved: this.reserved, buffered: this.buffered, peak: this.peak };
  }
}

export interface Reservation {
  bytes: number;
  release(): void;
}
