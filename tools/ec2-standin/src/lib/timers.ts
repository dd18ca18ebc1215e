/** The stand-in's pending timers (boots, notices, reclaims), all cancelled at once when it closes. */
export class PendingTimers {
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Runs `fn` once after `ms`, unless cancelled first. */
  after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** How many have yet to run. */
  get size(): number {
    return this.timers.size;
  }

  cancelAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
