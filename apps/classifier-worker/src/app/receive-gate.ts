export interface ReceiveGateDeps {
  /** Messages the worker could take now. */
  room: () => number;
  /** Room worth one receive call: the worker gathers this much before it asks. */
  want: () => number;
  /** Calls `fn` whenever room may have changed; returns the unsubscribe. */
  onChange: (fn: () => void) => () => void;
  /** Once there is room for one, how long the worker waits for more before it receives anyway, ms. */
  gatherMs: number;
}

/**
 * When the worker's next receive from the launch queue may go. One receive
 * takes up to ten messages for the price of one call, so the worker gathers
 * room for a good share of its budget before it asks. But the launch queue is
 * a fair queue: the next receive serves a quiet tenant's message first, so that
 * message waits in the queue exactly as long as the worker gathers. Gathering
 * until half of a budget of 20 is free kept a quiet tenant's image queued
 * for seconds behind a busy tenant's backlog (each worker finishing ten images
 * first); so once there is room for one, the worker gathers for at most
 * `gatherMs`, then receives what it has room for.
 */
export class ReceiveGate {
  constructor(private readonly d: ReceiveGateDeps) {}

  /** Resolves true once a receive may go, false when `abort` fires first. */
  async open(abort?: AbortSignal): Promise<boolean> {
    let roomSince: number | undefined;
    for (;;) {
      const room = this.d.room();
      if (room >= this.d.want()) return true;
      if (room < 1) roomSince = undefined;
      else {
        roomSince ??= performance.now();
        if (performance.now() - roomSince >= this.d.gatherMs) return true;
      }
      const waitMs = roomSince === undefined ? undefined : this.d.gatherMs - (performance.now() - roomSince);
      if (!(await this.changeOrAbort(abort, waitMs))) return false;
    }
  }

  /** Resolves true on a change or once `waitMs` has passed, false when `abort` fires. */
  private changeOrAbort(abort: AbortSignal | undefined, waitMs: number | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve(false);
      const done = (ok: boolean) => {
        unsubscribe();
        clearTimeout(timer);
        abort?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onAbort = () => done(false);
      const unsubscribe = this.d.onChange(() => done(true));
      const timer = waitMs === undefined ? undefined : setTimeout(() => done(true), Math.max(0, waitMs));
      abort?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
