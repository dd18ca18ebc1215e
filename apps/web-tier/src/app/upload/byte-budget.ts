/**
 * A counting semaphore: take(n) waits until n more fit under the limit. A take
 * when nothing is held always succeeds, so one request larger than the limit
 * cannot wait forever. Waiters are served in order.
 */
export class Budget {
  private used = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly limit: number) {}

  take(n: number): Promise<void> {
    if (this.waiters.length === 0 && this.fits(n)) {
      this.used += n;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  give(n: number): void {
    this.used -= n;
    while (this.waiters.length > 0 && this.fits(this.waiters[0].n)) {
      const w = this.waiters.shift() as { n: number; resolve: () => void };
      this.used += w.n;
      w.resolve();
    }
  }

  get held(): number {
    return this.used;
  }

  private fits(n: number): boolean {
    return this.used === 0 || this.used + n <= this.limit;
  }
}
