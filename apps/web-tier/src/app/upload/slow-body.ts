import type { Readable } from 'node:stream';

/** The slowest body the tier waits for: fewer bytes than `minBytesPerSecond` × `windowMs` in one window is too slow. */
export interface BodyRateRule {
  /** 0: never judged. */
  minBytesPerSecond: number;
  windowMs: number;
}

export interface SlowBodyEvents {
  /** The body was too slow; called once, after which the watch has stopped. */
  onSlow(message: string): void;
  /** Every chunk: the body's bytes so far. */
  onBytes?(received: number): void;
}

/**
 * Judges how fast a request body arrives, window by window. Only time in
 * which the body was free to flow counts: while the server itself holds the
 * body back (the stream paused by back-pressure, because S3 or the request's
 * one-file buffer is the slower side), no window runs, and a fresh one starts
 * when the flow resumes. So a client is cut for its own slowness, never for
 * the server's. Attach it after the body is piped (a `data` listener on a
 * stream nobody reads would start it flowing into nothing).
 */
export class SlowBodyWatch {
  private received = 0;
  private windowBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly body: Readable,
    private readonly rule: BodyRateRule,
    private readonly events: SlowBodyEvents,
  ) {}

  start(): this {
    // A body already read whole has nothing left to judge.
    if (this.body.readableEnded) return this;
    this.body.on('data', this.onData);
    this.body.on('pause', this.onPause);
    this.body.on('resume', this.onResume);
    this.body.once('end', this.stop);
    this.body.once('close', this.stop);
    if (this.body.readableFlowing !== false) this.openWindow();
    return this;
  }

  readonly stop = (): void => {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.body.off('data', this.onData);
    this.body.off('pause', this.onPause);
    this.body.off('resume', this.onResume);
    this.body.off('end', this.stop);
    this.body.off('close', this.stop);
  };

  private readonly onData = (chunk: Buffer | string): void => {
    this.received += chunk.length;
    this.windowBytes += chunk.length;
    this.events.onBytes?.(this.received);
  };

  private readonly onPause = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
  };

  private readonly onResume = (): void => {
    if (!this.stopped && this.timer === undefined) this.openWindow();
  };

  private openWindow(): void {
    if (this.rule.minBytesPerSecond <= 0) return;
    this.windowBytes = 0;
    this.timer = setTimeout(() => this.judge(), this.rule.windowMs);
  }

  private judge(): void {
    this.timer = undefined;
    if (this.stopped) return;
    if (this.body.readableEnded) return this.stop();
    const least = (this.rule.minBytesPerSecond * this.rule.windowMs) / 1000;
    if (this.windowBytes >= least) return this.openWindow();
    const seconds = this.rule.windowMs / 1000;
    this.stop();
    this.events.onSlow(
      `the upload was too slow: ${this.windowBytes} bytes in ${seconds} s, at least ${this.rule.minBytesPerSecond} bytes/s are needed; nothing was accepted`,
    );
  }
}
