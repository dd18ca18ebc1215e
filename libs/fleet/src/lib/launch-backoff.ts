import { createTimeout } from 'retry';

export interface BackoffOptions {
  /** First wait, ms; each further failure doubles it. */
  minMs: number;
  maxMs: number;
  /** Spread the waits (x1..x2) so that many controllers do not retry in step; off for a reproducible simulation. */
  jitter: boolean;
}

/** Exponential back-off over a virtual or real clock (ms): `fail` pushes the next try out, `succeed` clears it. */
export class Backoff {
  private failures = 0;
  private notBefore = 0;
  private why?: string;

  constructor(private readonly options: BackoffOptions) {
    if (!(options.minMs > 0) || !(options.maxMs >= options.minMs)) {
      throw new RangeError(`back-off needs 0 < minMs <= maxMs (got ${options.minMs}, ${options.maxMs})`);
    }
  }

  /** Records a failure at `now`; returns the wait before the next try, ms. */
  fail(now: number, reason: string): number {
    const wait = createTimeout(this.failures, {
      minTimeout: this.options.minMs,
      maxTimeout: this.options.maxMs,
      factor: 2,
      randomize: this.options.jitter,
    });
    this.failures++;
    this.notBefore = now + wait;
    this.why = reason;
    return wait;
  }

  succeed(): void {
    this.failures = 0;
    this.notBefore = 0;
    this.why = undefined;
  }

  /** Ms still to wait at `now` (0: go). */
  remaining(now: number): number {
    return Math.max(0, this.notBefore - now);
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  get reason(): string | undefined {
    return this.why;
  }
}
