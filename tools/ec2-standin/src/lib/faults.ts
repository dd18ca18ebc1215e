import { Ec2Error } from './wire';

/** Ways real EC2 makes a client's life hard, injectable at start and at run time. */
export interface Ec2Faults {
  /**
   * Seconds after RunInstances during which the new instances are missing from
   * DescribeInstances (EC2's eventual consistency); an explicit InstanceIds
   * lookup of one answers InvalidInstanceID.NotFound meanwhile.
   */
  describeLagSeconds: number;
  /**
   * Instances the Availability Zone can hold at once (pending, running or
   * shutting down); undefined = unlimited. A RunInstances beyond it launches
   * what fits when that is at least MinCount, else fails with
   * InsufficientInstanceCapacity.
   */
  capacity?: number;
  /** RequestLimitExceeded on every Nth API call (counting from the first), 0 = never. */
  throttleEveryNth: number;
  /**
   * A token bucket of API calls: `size` calls at once, refilled at
   * `refillPerSecond`; a call finding the bucket empty gets RequestLimitExceeded.
   */
  throttleBucket?: { size: number; refillPerSecond: number };
  /** Only these actions are throttled (default: all). */
  throttleActions?: string[];
  /**
   * Spot instances the Availability Zone can hold at once; undefined = as many
   * as `capacity` allows. A Spot RunInstances beyond it launches what fits when
   * that is at least MinCount, else fails with InsufficientInstanceCapacity
   * (on-demand launches are not affected).
   */
  spotCapacity?: number;
  /**
   * The current Spot price, USD per hour; undefined = no price check. A Spot
   * RunInstances whose SpotOptions.MaxPrice is below it fails with
   * SpotMaxPriceTooLow, as EC2 does.
   */
  spotPrice?: number;
  /**
   * Seconds a Spot instance runs before EC2 interrupts it
   * (EC2_SPOT_INTERRUPT_SECONDS); undefined = never. The notice appears in the
   * instance's metadata (`spot/instance-action`), and the instance is
   * terminated two minutes later (divided by the stand-in's time scale).
   */
  spotInterruptSeconds?: number;
}

export const NO_FAULTS: Ec2Faults = { describeLagSeconds: 0, throttleEveryNth: 0 };

/** Decides, call by call, whether to throttle. */
export class Throttle {
  private calls = 0;
  private tokens = 0;
  private refilledAt = Date.now();
  private forced = 0;

  constructor(private readonly faults: () => Ec2Faults) {
    this.tokens = faults().throttleBucket?.size ?? 0;
  }

  /** The next `count` calls (of the throttled actions) are refused, whatever else is set. */
  throttleNext(count: number): void {
    this.forced += count;
  }

  /** Resets the bucket to full (after its settings changed). */
  reset(): void {
    this.tokens = this.faults().throttleBucket?.size ?? 0;
    this.refilledAt = Date.now();
    this.calls = 0;
  }

  check(action: string): void {
    const f = this.faults();
    if (f.throttleActions && !f.throttleActions.includes(action)) return;
    this.calls++;
    let refuse = false;
    if (this.forced > 0) {
      this.forced--;
      refuse = true;
    }
    if (f.throttleEveryNth > 0 && this.calls % f.throttleEveryNth === 0) refuse = true;
    if (f.throttleBucket) {
      const now = Date.now();
      this.tokens = Math.min(f.throttleBucket.size, this.tokens + ((now - this.refilledAt) / 1000) * f.throttleBucket.refillPerSecond);
      this.refilledAt = now;
      if (this.tokens >= 1) this.tokens--;
      else refuse = true;
    }
    if (refuse) throw new Ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503);
  }
}
