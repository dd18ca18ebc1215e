import type { QueueDepth } from '@app/aws';
import type { ScalingSettings } from '@app/config';
import type { FleetCounts } from './fleet';

export type ScalingPolicyName = ScalingSettings['policy'];

/** What one worker can do: the work-per-worker policy sizes the fleet from these. */
export interface WorkerCapacity {
  /** Images one worker works on at once. */
  concurrency: number;
  /** Images one worker holds (received, unfinished): the first worker to poll takes up to this many. */
  prefetch: number;
  /** Seconds one image takes a worker. */
  imageSeconds: number;
  /** Seconds from launch until a new worker takes work (instance boot and model load). */
  bootSeconds: number;
}

export interface ScalingInputs {
  depth: QueueDepth;
  /** Alive workers, launches the fleet does not list yet counted as pending. */
  fleet: FleetCounts;
  /** For each pending worker, seconds until it should take work; a pending worker not in here counts as a full boot away. */
  pendingReadyInSeconds?: number[];
  /**
   * How much the waiting backlog (visible + delayed) grew over the last
   * `bootSeconds` (negative: it shrank); undefined until there is that much history.
   */
  backlogGrowth?: number;
  maxWorkers: number;
  worker: WorkerCapacity;
  /** one-per-message only. */
  targetBacklogPerWorker: number;
}

/** Why a decision was taken, as a fixed code (a metrics label); `reason` says it in words. */
export type ScalingRule = 'no-backlog' | 'at-max-workers' | 'fleet-suffices' | 'scale-from-zero' | 'scale-out' | 'backoff';

export interface ScalingDecision {
  action: 'launch' | 'hold';
  /** Workers to launch now (0 for hold). */
  count: number;
  /** Launch queue messages: visible + in flight + delayed. */
  backlog: number;
  /** Workers the backlog calls for, alive ones included, before MAX_WORKERS. */
  desired: number;
  alive: number;
  rule: ScalingRule;
  reason: string;
  policy: ScalingPolicyName;
}

export interface DesiredWorkers {
  desired: number;
  /** Why that many, for the log line. */
  why: string;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * How many workers the launch queue calls for, never more than MAX_WORKERS.
 * Scale-in is not decided here: idle workers end themselves. Two policies
 * share the guards and differ in `desiredWorkers`.
 */
export abstract class ScalingPolicy {
  abstract readonly name: ScalingPolicyName;

  static backlog(depth: QueueDepth): number {
    return depth.visible + depth.inFlight + depth.delayed;
  }

  static named(name: ScalingPolicyName): ScalingPolicy {
    return name === 'one-per-message' ? new OnePerMessagePolicy() : new WorkPerWorkerPolicy();
  }

  /** Workers the backlog calls for, the alive ones included. */
  abstract desiredWorkers(i: ScalingInputs): DesiredWorkers;

  decide(i: ScalingInputs): ScalingDecision {
    const backlog = ScalingPolicy.backlog(i.depth);
    const alive = i.fleet.alive;
    const hold = (rule: ScalingRule, reason: string, desired = alive): ScalingDecision => ({
      action: 'hold',
      count: 0,
      backlog,
      desired,
      alive,
      rule,
      reason,
      policy: this.name,
    });
    if (backlog === 0) return hold('no-backlog', 'no backlog', 0);
    const { desired, why } = this.desiredWorkers(i);
    if (alive >= i.maxWorkers) return hold('at-max-workers', `at MAX_WORKERS (${i.maxWorkers})`, desired);
    if (alive >= desired) return hold('fleet-suffices', why, desired);
    const count = Math.min(desired, i.maxWorkers) - alive;
    const rule = alive === 0 ? 'scale-from-zero' : 'scale-out';
    const reason = `${alive === 0 ? 'scale from zero' : 'scale out'}: ${why}`;
    return { action: 'launch', count, backlog, desired, alive, rule, reason, policy: this.name };
  }
}

/** The old rule: one worker per TARGET_BACKLOG_PER_WORKER messages (visible, in flight or delayed). */
export class OnePerMessagePolicy extends ScalingPolicy {
  readonly name = 'one-per-message' as const;

  desiredWorkers(i: ScalingInputs): DesiredWorkers {
    const backlog = ScalingPolicy.backlog(i.depth);
    const desired = Math.ceil(backlog / i.targetBacklogPerWorker);
    return { desired, why: `backlog ${backlog} needs ${desired}, ${i.fleet.alive} alive` };
  }
}

/**
 * Sizes the fleet by work per worker. A worker launched now takes work only
 * after `bootSeconds`, and then takes up to `prefetch` images at once (the
 * first to poll takes them all). Until then the workers already there drain
 * the waiting images: each free one fills its prefetch at once, and each
 * running one takes `concurrency / imageSeconds` images a second; each pending
 * one takes a full prefetch when it comes up, plus what it finishes before a
 * new worker could. Only what is left after that calls for new workers, one
 * per `prefetch` images: a worker launched for less would find nothing left.
 * Images in flight are held by workers already and call for no one. (A busy
 * worker's free room is not known, since a worker deletes the messages it
 * takes; counting none errs towards launching.) Under sustained load new
 * uploads take the running workers' throughput: when the backlog grew by more
 * than a prefetch over the last boot time, the running workers are not keeping
 * up, and they are counted as draining none of it.
 */
export class WorkPerWorkerPolicy extends ScalingPolicy {
  readonly name = 'work-per-worker' as const;

  desiredWorkers(i: ScalingInputs): DesiredWorkers {
    const { prefetch, imageSeconds, bootSeconds } = i.worker;
    const perSecond = Math.min(i.worker.concurrency, prefetch) / imageSeconds;
    const waiting = i.depth.visible + i.depth.delayed;
    const { running, free, pending, alive } = i.fleet;
    const readyIn = i.pendingReadyInSeconds ?? [];
    const keepingUp = !(running > 0 && (i.backlogGrowth ?? 0) > prefetch);
    let drained = free * prefetch + (keepingUp ? running * perSecond * bootSeconds : 0);
    for (let p = 0; p < pending; p++) {
      const wait = Math.min(bootSeconds, Math.max(0, readyIn[p] ?? bootSeconds));
      drained += prefetch + perSecond * (bootSeconds - wait);
    }
    const left = waiting - drained;
    if (left <= 0) {
      const what = waiting === 0 ? `nothing waiting (${i.depth.inFlight} in flight, held by workers)` : `${waiting} waiting`;
      return { desired: alive, why: `${alive} alive take ${what} before a new worker could boot (${bootSeconds} s)` };
    }
    const more = Math.ceil(left / prefetch);
    const behind = keepingUp ? '' : `, up ${i.backlogGrowth} in ${bootSeconds} s`;
    return {
      desired: alive + more,
      why:
        `${waiting} waiting${behind}, ${round1(left)} left after ${bootSeconds} s of boot for the ${alive} alive: ` +
        `${more} more at up to ${prefetch} each`,
    };
  }
}
