/**
 * A few places for images between the input bucket and the model (bounding the
 * decoded pixels waiting for it), handed out by tenant in turn: when a place
 * frees, the tenant served longest ago among those waiting gets it. So a
 * tenant whose images fill a worker does not keep another tenant's image
 * waiting behind all of them, only behind the ones already in a place.
 */
export class TenantTurns {
  /** Waiting tenants in turn order (Map keeps insertion order), each with its waiters oldest first. */
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(private free: number) {
    if (!Number.isInteger(free) || free < 1) throw new RangeError(`places must be a whole number >= 1 (got ${free})`);
  }

  /** Resolves when the tenant has a place; give it back with release(). */
  async acquire(tenant: string): Promise<void> {
    if (this.free > 0 && this.waiting.size === 0) {
      this.free--;
      return;
    }
    await new Promise<void>((wake) => {
      const queue = this.waiting.get(tenant);
      if (queue) queue.push(wake);
      else this.waiting.set(tenant, [wake]);
    });
  }

  release(): void {
    const first = this.waiting.entries().next();
    if (first.done) {
      this.free++;
      return;
    }
    const [tenant, queue] = first.value;
    const wake = queue.shift() as () => void;
    // Served: to the back of the turn order, if it still has images waiting.
    this.waiting.delete(tenant);
    if (queue.length > 0) this.waiting.set(tenant, queue);
    wake();
  }
}
