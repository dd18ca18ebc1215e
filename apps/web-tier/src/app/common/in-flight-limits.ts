import { HttpException, HttpStatus } from '@nestjs/common';

/** One cap: at most `max` at once for each value of a key (a client address, a tenant, or one key for all). */
export interface InFlightCap {
  /** Said in the 429's message: "per client address", "per tenant", "in all". */
  scope: string;
  max: number;
  /** Told of each request this cap refuses (for metrics). */
  refused?: () => void;
}

/**
 * Counts things in flight (uploads, open streams) under several caps at once,
 * each keyed its own way: a request that would pass any of them is refused
 * with 429 and `Retry-After`, and counts toward none. What it takes it gives
 * back exactly once. Counts live in this process: behind several web tiers a
 * client may hold up to the cap on each tier.
 */
export class InFlightLimits {
  private readonly counts: Map<string, number>[];

  constructor(
    /** What is counted, for messages: "uploads", "open event streams and classic requests". */
    private readonly what: string,
    private readonly caps: InFlightCap[],
    private readonly retryAfterSeconds: number,
  ) {
    this.counts = caps.map(() => new Map());
  }

  /** Takes one place under every cap, keyed by `keys[i]` for `caps[i]`; returns its release, or throws 429. */
  acquire(keys: string[]): () => void {
    this.caps.forEach((cap, i) => {
      const now = this.counts[i].get(keys[i]) ?? 0;
      if (now >= cap.max) {
        cap.refused?.();
        // The error filter gives it the API's shape and turns retryAfterSeconds into Retry-After.
        throw new HttpException(
          { message: `too many ${this.what} at once: at most ${cap.max} ${cap.scope}; try again in ${this.retryAfterSeconds} s`, retryAfterSeconds: this.retryAfterSeconds },
          HttpStatus.TOO_MANY_REQUESTS,
        );
      }
    });
    this.caps.forEach((_, i) => this.counts[i].set(keys[i], (this.counts[i].get(keys[i]) ?? 0) + 1));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.caps.forEach((_, i) => {
        const left = (this.counts[i].get(keys[i]) ?? 1) - 1;
        // Drop a key at zero, so that the map holds only clients with something in flight.
        if (left > 0) this.counts[i].set(keys[i], left);
        else this.counts[i].delete(keys[i]);
      });
    };
  }

  /** How many are in flight under cap `i` for `key`. */
  inFlight(i: number, key: string): number {
    return this.counts[i].get(key) ?? 0;
  }
}
