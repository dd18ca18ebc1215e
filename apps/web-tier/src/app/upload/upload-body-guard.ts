import { HttpException, RequestTimeoutException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { SlowBodyWatch, type BodyRateRule } from './slow-body';
import type { Reservation } from './upload-memory';

/**
 * Watches one upload's body while it is read: a body slower than the rule
 * is cut with 408, and the memory reservation grows as bytes arrive (503 when
 * the room is gone). Either ends the reading through `signal`, so the upload
 * removes what it stored and releases its memory; the answer closes the
 * connection, so the rest of a slow body is not waited for.
 */
export class UploadBodyGuard {
  private readonly cut = new AbortController();
  private readonly watch: SlowBodyWatch;

  constructor(
    req: Request,
    private readonly res: Response,
    reservation: Reservation,
    rule: BodyRateRule,
    /** Told when the body is cut for its pace (for metrics). */
    tooSlow: () => void = () => undefined,
  ) {
    this.watch = new SlowBodyWatch(req, rule, {
      onSlow: (message) => {
        tooSlow();
        this.stopWith(new RequestTimeoutException(message));
      },
      onBytes: (received) => {
        try {
          reservation.received(received);
        } catch (err) {
          this.stopWith(err as HttpException);
        }
      },
    });
  }

  /** Ends the reading when aborted, with the reason to answer. */
  get signal(): AbortSignal {
    return this.cut.signal;
  }

  /** Call once the body is piped to its reader. */
  start(): void {
    this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  private stopWith(err: HttpException): void {
    if (this.cut.signal.aborted) return;
    this.watch.stop();
    if (!this.res.headersSent) this.res.setHeader('Connection', 'close');
    this.cut.abort(err);
  }
}
