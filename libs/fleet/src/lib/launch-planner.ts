import { countFleet, type FleetCounts, type WorkerInstance } from './fleet';
import type { QueueDepth } from '@app/aws';
import { Backoff, type BackoffOptions } from './launch-backoff';
import { ScalingPolicy, type ScalingDecision, type WorkerCapacity } from './scaling-policy';

export interface LaunchPlannerOptions {
  policy: ScalingPolicy;
  maxWorkers: number;
  worker: WorkerCapacity;
  targetBacklogPerWorker: number;
  /** A launched worker the fleet does not list yet counts as pending for at most this long, ms. */
  inFlightMs: number;
  backoff: BackoffOptions;
}

export interface LaunchPlan {
  decision: ScalingDecision;
  /** The fleet as the decision saw it: listed workers plus launches not listed yet. */
  workers: FleetCounts;
  instances: WorkerInstance[];
  /** Launches forgotten this time because the fleet never listed them within LAUNCH_IN_FLIGHT_SECONDS. */
  expired: WorkerInstance[];
}

export interface LaunchOutcome {
  launched: number;
  requested: number;
  /** Set when the next launch has to wait: why, and how long (ms). */
  backoff?: { reason: string; waitMs: number };
}

/**
 * The launch controller's decisions, free of I/O and of the wall clock (times
 * are ms on whatever clock the caller runs: the real one in the scaling loop,
 * a virtual one in the simulator). It remembers what it launched until the
 * fleet lists it, because EC2's DescribeInstances lags RunInstances: without
 * that memory the next tick sees too few workers and launches past
 * MAX_WORKERS. A short or failed launch (capacity, throttling) backs off
 * exponentially before the shortfall is tried again.
 */
export class LaunchPlanner {
  private readonly inFlight = new Map<string, WorkerInstance>();
  private readonly backoff: Backoff;
  /** Waiting backlog at each plan, oldest first, going back one boot time. */
  private readonly history: { at: number; waiting: number }[] = [];

  constructor(private readonly options: LaunchPlannerOptions) {
    this.backoff = new Backoff(options.backoff);
  }

  get policy(): ScalingPolicy {
    return this.options.policy;
  }

  /** Launches not listed by the fleet yet. */
  get unlisted(): WorkerInstance[] {
    return [...this.inFlight.values()];
  }

  get backingOff(): { reason: string; failures: number } | undefined {
    const reason = this.backoff.reason;
    return reason === undefined ? undefined : { reason, failures: this.backoff.consecutiveFailures };
  }

  plan(now: number, depth: QueueDepth, listed: WorkerInstance[]): LaunchPlan {
    const expired: WorkerInstance[] = [];
    const ids = new Set(listed.map((w) => w.id));
    for (const [id, w] of this.inFlight) {
      if (ids.has(id)) this.inFlight.delete(id);
      else if (now - w.launchedAt.getTime() > this.options.inFlightMs) {
        this.inFlight.delete(id);
        expired.push(w);
      }
    }
    const instances = [...listed, ...this.inFlight.values()];
    const workers = countFleet(instances);
    const bootMs = this.options.worker.bootSeconds * 1000;
    const pendingReadyInSeconds = instances
      .filter((w) => w.state === 'pending')
      .map((w) => Math.max(0, bootMs - (now - w.launchedAt.getTime())) / 1000);
    let decision = this.options.policy.decide({
      depth,
      fleet: workers,
      pendingReadyInSeconds,
      backlogGrowth: this.backlogGrowth(now, depth.visible + depth.delayed, bootMs),
      maxWorkers: this.options.maxWorkers,
      worker: this.options.worker,
      targetBacklogPerWorker: this.options.targetBacklogPerWorker,
    });
    const waitMs = this.backoff.remaining(now);
    if (decision.action === 'launch' && waitMs > 0) {
      decision = {
        ...decision,
        action: 'hold',
        count: 0,
        rule: 'backoff',
        reason: `${decision.count} more wanted, launching again in ${(waitMs / 1000).toFixed(1)} s after ${this.backoff.reason}`,
      };
    }
    return { decision, workers, instances, expired };
  }

  /** Growth of the waiting backlog over the last boot time (undefined until there is that much history). */
  private backlogGrowth(now: number, waiting: number, bootMs: number): number | undefined {
    this.history.push({ at: now, waiting });
    // Keep the newest sample at least one boot time old, drop the ones before it.
    while (this.history.length > 1 && now - this.history[1].at >= bootMs) this.history.shift();
    const oldest = this.history[0];
    return now - oldest.at >= bootMs && this.history.length > 1 ? waiting - oldest.waiting : undefined;
  }

  /** Records what a launch of `requested` workers gave; a shortfall backs off. */
  launched(now: number, requested: number, workers: WorkerInstance[]): LaunchOutcome {
    // Remembered from when we asked, on our clock: the fleet's own launch time may be on another.
    for (const w of workers) this.inFlight.set(w.id, { ...w, launchedAt: new Date(now) });
    if (workers.length >= requested) {
      this.backoff.succeed();
      return { launched: workers.length, requested };
    }
    const reason = `a short launch (${workers.length} of ${requested}: not enough capacity)`;
    return { launched: workers.length, requested, backoff: { reason, waitMs: this.backoff.fail(now, reason) } };
  }

  /** Records a launch that failed outright; the next one backs off. */
  failed(now: number, requested: number, err: Error): LaunchOutcome {
    const reason = `a failed launch of ${requested} (${err.message})`;
    return { launched: 0, requested, backoff: { reason, waitMs: this.backoff.fail(now, reason) } };
  }
}
