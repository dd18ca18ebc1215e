import type { Ec2Faults } from './faults';
import type { InstanceTable, StandInInstance } from './instances';
import { PendingTimers } from './timers';

/** EC2's warning before it interrupts a Spot instance. */
export const SPOT_NOTICE_MS = 120_000;

export const SPOT_TERMINATION_REASON = {
  code: 'Server.SpotInstanceTermination',
  message: 'Server.SpotInstanceTermination: Spot instance termination',
};

/**
 * Spot interruptions as EC2 makes them: a running Spot instance gets its
 * notice `spotInterruptSeconds` after it started running (or when a test asks),
 * its metadata then serves `spot/instance-action`, and it is terminated two
 * minutes later, divided by `timeScale` so that tests need not wait them out.
 */
export class SpotInterruptions {
  private readonly timers = new PendingTimers();

  constructor(
    private readonly table: InstanceTable,
    private readonly faults: () => Ec2Faults,
    private readonly timeScale: () => number,
    private readonly log: (msg: string) => void,
  ) {}

  /** An instance reached `running`: a Spot one is interrupted after the configured time. */
  running(i: StandInInstance): void {
    const after = this.faults().spotInterruptSeconds;
    if (i.market !== 'spot' || after === undefined) return;
    this.timers.after(after * 1000, () => this.interrupt(i.id));
  }

  /** Issues the notice now; false when the instance is not a running or pending Spot instance, or already noticed. */
  interrupt(id: string): boolean {
    const i = this.table.get(id);
    if (!i || i.market !== 'spot' || i.interruption || (i.state !== 'running' && i.state !== 'pending')) return false;
    const now = Date.now();
    const noticeMs = SPOT_NOTICE_MS / this.timeScale();
    i.interruption = { action: 'terminate', noticeAt: now, at: now + noticeMs };
    this.log(`${id}: Spot interruption notice (terminate in ${Math.round(noticeMs) / 1000} s)`);
    this.timers.after(noticeMs, () => this.table.reclaim(id, SPOT_TERMINATION_REASON));
    return true;
  }

  close(): void {
    this.timers.cancelAll();
  }
}
