import type { QueueDepth } from '@app/aws';
import type { FleetCounts } from './fleet';

export interface ScalingInputs {
  depth: QueueDepth;
  fleet: FleetCounts;
  maxWorkers: number;
  targetBacklogPerWorker: number;
}

export interface ScalingDecision {
  action: 'launch' | 'hold';
  /** Workers to launch now (0 for hold). */
  count: number;
  backlog: number;
  desired: number;
  alive: number;
  reason: string;
}

/**
 * How many workers the backlog calls for: one per TARGET_BACKLOG_PER_WORKER
 * messages (visible, in flight or delayed), never more than MAX_WORKERS.
 * Scale-in is not decided here: idle workers end themselves.
 */
export class ScalingPolicy {
  static backlog(depth: QueueDepth): number {
    return depth.visible + depth.inFlight + depth.delayed;
  }

  static desiredWorkers(backlog: number, maxWorkers: number, targetBacklogPerWorker: number): number {
    return Math.min(maxWorkers, Math.ceil(backlog / targetBacklogPerWorker));
  }

  static decide(i: ScalingInputs): ScalingDecision {
    const backlog = ScalingPolicy.backlog(i.depth);
    const desired = ScalingPolicy.desiredWorkers(backlog, i.maxWorkers, i.targetBacklogPerWorker);
    const alive = i.fleet.alive;
    const base = { backlog, desired, alive };
    if (backlog === 0) return { ...base, action: 'hold', count: 0, reason: 'no backlog' };
    if (alive >= i.maxWorkers) {
      return { ...base, action: 'hold', count: 0, reason: `at MAX_WORKERS (${i.maxWorkers})` };
    }
    if (alive >= desired) {
      return { ...base, action: 'hold', count: 0, reason: `${alive} alive meet the backlog of ${backlog}` };
    }
    const count = Math.min(desired, i.maxWorkers) - alive;
    const reason = alive === 0 ? `scale from zero: backlog ${backlog}` : `backlog ${backlog} needs ${desired}, ${alive} alive`;
    return { ...base, action: 'launch', count, reason };
  }
}
