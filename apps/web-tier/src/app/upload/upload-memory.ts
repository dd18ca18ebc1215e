import { HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { AppConfig, ConfigError } from '@app/config';
import { errorBody } from '../common/http-error.filter';
import { MetricsService } from '../ops/metrics.service';
import { formatBytes } from './upload.errors';

/** How long a client refused for memory is told to wait, seconds. */
export const BUSY_RETRY_AFTER_SECONDS = 2;

/** What a request holds before its body has shown that it is really arriving. */
export const FIRST_RESERVATION_BYTES = 64 * 1024;

/**
 * Upload bytes held in memory, across all requests. Before a request's body
 * is read it must fit what it may hold: its declared length, or one file's
 * worth (MAX_FILE_BYTES) when that is less or no length is declared (a
 * request only ever holds one file's worth at a time, see MultipartStream);
 * a request that does not fit under UPLOAD_MAX_BYTES_IN_FLIGHT is refused
 * (503 + Retry-After) before a byte is read. It then holds only 64 KiB, and
 * twice what its body has brought so far as it arrives, up to that need: so
 * slow bodies, which bring little, cannot hold the cap from everyone else
 * (26 of them trickling a few bytes a second once held all 256 MiB). Growing
 * may find the room gone: 503 then, mid-body. The bytes actually buffered are
 * counted too, with their peak, for /metrics and the memory tests.
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

  /** Reserves room for a request that declared `declaredBytes` (NaN: unknown); throws 503 when its whole need does not fit now. */
  reserve(declaredBytes: number): Reservation {
    const want = Number.isFinite(declaredBytes) && declaredBytes >= 0 ? Math.min(declaredBytes, this.perRequest) : this.perRequest;
    if (this.reserved + want > this.cap) throw this.busy();
    let held = Math.min(want, FIRST_RESERVATION_BYTES);
    this.reserved += held;
    this.metrics.uploadReservedBytes.set(this.reserved);
    let released = false;
    return {
      get bytes() {
        return held;
      },
      received: (bytes: number) => {
        if (released || held >= want || 2 * bytes <= held) return;
        const next = Math.min(want, 2 * bytes);
        if (this.reserved + next - held > this.cap) throw this.busy();
        this.reserved += next - held;
        held = next;
        this.metrics.uploadReservedBytes.set(this.reserved);
      },
      release: () => {
        if (released) return;
        released = true;
        this.reserved -= held;
        this.metrics.uploadReservedBytes.set(this.reserved);
      },
    };
  }

  private busy(): HttpException {
    this.metrics.uploadsBusy.inc();
    return new HttpException(
      errorBody(
        HttpStatus.SERVICE_UNAVAILABLE,
        `busy: uploads already hold ${formatBytes(this.reserved)} of ${formatBytes(this.cap)} in memory; try again in ${BUSY_RETRY_AFTER_SECONDS} s`,
        { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS },
      ),
      HttpStatus.SERVICE_UNAVAILABLE,
    );
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
  /** Held now. */
  readonly bytes: number;
  /** The body has brought `bytes` so far: hold up to twice that (at most the need); throws 503 when the room is gone. */
  received(bytes: number): void;
  release(): void;
}
