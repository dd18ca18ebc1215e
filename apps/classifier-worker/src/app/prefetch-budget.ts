/**
 * How many images a worker may claim at once: no more than it can finish
 * before their deadline. Each image's model time (the wall time of its
 * classification, queueing behind the others included) is observed, and the
 * bound is half the deadline's worth of them, between 1 and WORKER_PREFETCH.
 * Queueing in the observation makes it converge from above: claiming fewer
 * shortens the queue, which lets it claim more.
 */
export class PrefetchBudget {
  private costMs?: number;
  private inUse = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly max: number,
    private readonly deadlineMs: number,
    /** Before anything is observed. */
    private readonly initial = Math.min(max, 4),
    private readonly safety = 0.5,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`prefetch must be a positive integer (got ${max})`);
  }

  get limit(): number {
    if (this.costMs === undefined) return this.initial;
    return Math.max(1, Math.min(this.max, Math.floor((this.safety * this.deadlineMs) / Math.max(1, this.costMs))));
  }

  get held(): number {
    return this.inUse;
  }

  /** One image's model time; an average that follows changes (EWMA). */
  observe(ms: number): void {
    this.costMs = this.costMs === undefined ? ms : 0.7 * this.costMs + 0.3 * ms;
    this.wake();
  }

  /** Calls `fn` whenever the limit may have changed or an image finished; returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Takes room for one more image if there is some now. */
  tryAcquire(): boolean {
    if (this.inUse >= this.limit) return false;
    this.inUse++;
    return true;
  }

  /** Resolves once there is room for one more image, or with false when `abort` fires first. */
  acquire(abort?: AbortSignal): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (abort?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(admit);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      };
      const admit = () => {
        abort?.removeEventListener('abort', onAbort);
        this.inUse++;
        resolve(true);
      };
      this.waiters.push(admit);
      abort?.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    this.inUse--;
    this.wake();
  }

  /** Something outside changed what fits (a message settled): tell those waiting. */
  changed(): void {
    this.wake();
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.inUse < this.limit) this.waiters.shift()?.();
    for (const fn of this.listeners) fn();
  }
}
