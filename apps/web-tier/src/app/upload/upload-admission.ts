import { Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import type { Request, Response } from 'express';
import { ClientLimits } from '../common/client-limits';
import { MetricsService } from '../ops/metrics.service';
import { UploadBodyGuard } from './upload-body-guard';
import { UploadMemory, type Reservation } from './upload-memory';

/** Bodies up to this size are read and dropped after a refusal; larger ones end the connection. */
const DRAIN_REFUSED_BODY_BYTES = 1024 * 1024;

/**
 * For a refusal answered before the body is read. A small body is left for Node to read and drop,
 * so the client, still sending it, gets the answer (a closed connection meets its write with EPIPE
 * instead); a large or undeclared one is not worth reading, and the connection is closed.
 */
export function refuseBeforeBody(res: Response, declaredBytes: number): void {
  if (!(declaredBytes <= DRAIN_REFUSED_BODY_BYTES)) res.setHeader('Connection', 'close');
}

/** One admitted upload body. */
export interface AdmittedUpload {
  /** Aborted when the body is cut (too slow: 408; the memory gone: 503), with the error to answer. */
  signal: AbortSignal;
  /** Starts watching the body; call once it is piped to its reader. */
  watch(): void;
  /** Gives back its memory and its places under the caps, once. */
  end(): void;
}

/**
 * Lets an upload's body in, or not, before a byte of it is read: the caps on
 * uploads in flight per client address and per tenant (429), then the
 * upload memory (503). An admitted body is watched while it is read
 * (UploadBodyGuard): cut when too slow, its memory grown as it arrives.
 */
@Injectable()
export class UploadAdmission {
  constructor(
    private readonly config: AppConfig,
    private readonly memory: UploadMemory,
    private readonly limits: ClientLimits,
    private readonly metrics: MetricsService,
  ) {}

  /** Throws the refusal (429 or 503, the connection to be closed) or admits the body. */
  admit(req: Request, res: Response, tenant: string, declaredBytes: number): AdmittedUpload {
    let endUpload: (() => void) | undefined;
    let reservation: Reservation;
    try {
      // The caps first: a client over its cap takes no memory.
      endUpload = this.limits.startUpload(req, tenant);
      reservation = this.memory.reserve(declaredBytes);
    } catch (err) {
      endUpload?.();
      refuseBeforeBody(res, declaredBytes);
      throw err;
    }
    const release = endUpload;
    const web = this.config.web;
    const rule = { minBytesPerSecond: web.uploadMinBytesPerSecond, windowMs: web.uploadRateWindowSeconds * 1000 };
    const guard = new UploadBodyGuard(req, res, reservation, rule, () => this.metrics.uploadsTooSlow.inc());
    return {
      signal: guard.signal,
      watch: () => guard.start(),
      end: () => {
        guard.stop();
        reservation.release();
        release();
      },
    };
  }
}
