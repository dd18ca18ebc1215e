import type { Writable } from 'node:stream';

/**
 * Writes a long-lived response (an event stream) at the pace its reader
 * takes it. A write that fills the send buffer makes the next one wait for
 * 'drain', so events keep their order and a slow reader never makes this
 * process queue without bound; a reader whose buffer stays full for
 * `drainTimeoutMs` is dropped (the response destroyed: its 'close' ends the
 * stream like a client that went away).
 */
export class BackpressuredWriter {
  private waiting: Promise<boolean> | undefined;

  constructor(
    private readonly out: Writable,
    private readonly drainTimeoutMs: number,
  ) {}

  /** True while the send buffer is full: something that may be skipped (a keep-alive comment) should be. */
  get full(): boolean {
    return this.out.writableNeedDrain;
  }

  /** Writes once the buffer has room; false when the reader is gone or was dropped (nothing written). */
  async write(chunk: string): Promise<boolean> {
    if (this.out.writableNeedDrain && !(await this.drained())) return false;
    if (this.out.destroyed || this.out.writableEnded) return false;
    this.out.write(chunk);
    return true;
  }

  private drained(): Promise<boolean> {
    this.waiting ??= new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.out.off('drain', onDrain);
        this.out.off('close', onClose);
        this.waiting = undefined;
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => {
        done(false);
        this.out.destroy();
      }, this.drainTimeoutMs);
      this.out.once('drain', onDrain);
      this.out.once('close', onClose);
    });
    return this.waiting;
  }
}
