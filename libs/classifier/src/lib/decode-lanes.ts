/**
 * How many images decode at once. One lane always; more (up to `max`) only while
 * the model is idle, waiting for input.
 *
 * Why: one lane decodes a small image several times faster than the model runs it,
 * so a second lane only makes decodes compete for the same cores; on two cores,
 * decoding two at a time cost 10-15 % more CPU per image than one at a time (libvips,
 * the benchmark's 64x64 JPEGs). A photo that decodes slower than the model runs it
 * leaves the model idle, and then the other lanes open.
 */
export class DecodeLanes {
  private running = 0;
  private readonly queued: (() => void)[] = [];

  constructor(
    /** Most decodes at once: bounds decoder memory. */
    private readonly max: number,
    /** Whether the model has nothing to run (nothing running, nothing queued). */
    private readonly modelIdle: () => boolean,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`decode lanes must be a whole number of at least 1, not ${max}`);
  }

  /** Decodes now running. */
  get active(): number {
    return this.running;
  }

  /** Runs `decode` in a lane, in the order asked, once one is free. */
  async run<T>(decode: () => Promise<T>): Promise<T> {
    if (this.queued.length === 0 && this.mayStart()) this.running++;
    // The lane is counted for the waiter when it is handed over (wake), so that two wakes cannot both take the last one.
    else await new Promise<void>((handOver) => this.queued.push(handOver));
    try {
      return await decode();
    } finally {
      this.running--;
      this.wake();
    }
  }

  /** Starts waiting decodes while lanes are open: after a decode, and whenever the model may have gone idle. */
  wake(): void {
    while (this.queued.length > 0 && this.mayStart()) {
      this.running++;
      this.queued.shift()?.();
    }
  }

  private mayStart(): boolean {
    return this.running === 0 || (this.running < this.max && this.modelIdle());
  }
}
