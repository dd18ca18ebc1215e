/** An instance as the stop plan sees it: when it was launched, and whether it is still pending or running. */
export interface PlannedInstance {
  launchedAt: number;
  live: boolean;
}

export interface StopPlanOptions {
  /** EC2_SPOT_INTERRUPT_SECONDS: the notice comes this long after the instance runs. */
  interruptSeconds: number;
  /** EC2_BOOT_SECONDS: an instance runs this long after its launch. */
  bootSeconds: number;
  /** IDLE_SECONDS: a worker with nothing to do leaves after this long. */
  idleSeconds: number;
  /** Allowance for the requests outstanding when the load stops to be answered. */
  drainSeconds: number;
  /** The load lasts until at least this many instances have had their notice. */
  interruptions: number;
}

/**
 * When a steady load may stop so that every Spot worker that gets a notice gets it
 * mid-batch. While the load lasts every worker holds images, so a notice then finds
 * work; after it stops, the workers left finish what is outstanding and leave on idle.
 * A worker whose notice fell in between would see it empty-handed. So the load stops
 * only once enough notices have come and every live instance yet to have one has it at
 * least the drain allowance plus the idle time ahead.
 */
export class StopPlan {
  constructor(private readonly o: StopPlanOptions) {}

  /** When the stand-in serves this instance's notice (epoch ms). */
  noticeAt(i: PlannedInstance): number {
    return i.launchedAt + (this.o.bootSeconds + this.o.interruptSeconds) * 1000;
  }

  /** Instances whose notice has come by `now` (under a steady load none leaves on idle first). */
  noticed(instances: PlannedInstance[], now: number): number {
    return instances.filter((i) => this.noticeAt(i) <= now).length;
  }

  mayStop(instances: PlannedInstance[], now: number): boolean {
    if (this.noticed(instances, now) < this.o.interruptions) return false;
    const margin = (this.o.drainSeconds + this.o.idleSeconds) * 1000;
    return instances.filter((i) => i.live && this.noticeAt(i) > now).every((i) => this.noticeAt(i) - now >= margin);
  }
}
