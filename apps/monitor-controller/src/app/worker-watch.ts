import { NotFoundError, type ObjectStore } from '@app/aws';
import { heartbeatKey, parseHeartbeat, type Heartbeat } from '@app/contracts';
import type { Fleet, WorkerLiveness } from '@app/fleet';

export interface WorkerView {
  /** The fleet's own view: the process or instance exists. */
  liveness: WorkerLiveness;
  /** What the worker last wrote of itself, if anything (or nothing readable). */
  heartbeat?: Heartbeat;
}

export interface WorkerWatchOptions {
  /** A look at a worker answers every check of it for this long (ms). */
  ttlMs?: number;
  /** Views asked for within this long (ms) share one fleet call: a check round. */
  roundMs?: number;
}

/**
 * A worker's liveness (Fleet.statuses) and heartbeat, each read at most once
 * per `ttlMs` per worker: a worker holding twenty images has twenty checks due
 * at about the same moment, and one look answers them all. The liveness of
 * every worker asked about in one round (`roundMs`) comes from ONE fleet call
 * (on EC2 one DescribeInstances, not one per worker: twenty workers each
 * described every check would near EC2's request-rate limit).
 */
export class WorkerWatch {
  private readonly seen = new Map<string, { at: number; view: Promise<WorkerView> }>();
  private round?: { ids: Set<string>; statuses: Promise<Map<string, WorkerLiveness>> };
  private readonly ttlMs: number;
  private readonly roundMs: number;

  constructor(
    private readonly fleet: Fleet,
    private readonly outputBucket: ObjectStore,
    options: WorkerWatchOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 1000;
    this.roundMs = options.roundMs ?? 20;
  }

  view(workerId: string): Promise<WorkerView> {
    const now = Date.now();
    for (const [id, v] of this.seen) if (now - v.at > this.ttlMs) this.seen.delete(id);
    let entry = this.seen.get(workerId);
    if (!entry) {
      const view = this.look(workerId);
      entry = { at: now, view };
      this.seen.set(workerId, entry);
      // A failed look is not remembered: the next check asks again.
      view.catch(() => this.seen.get(workerId) === entry && this.seen.delete(workerId));
    }
    return entry.view;
  }

  private async look(workerId: string): Promise<WorkerView> {
    const [liveness, heartbeat] = await Promise.all([this.liveness(workerId), this.heartbeat(workerId)]);
    return { liveness, heartbeat };
  }

  /** Joins the round being gathered, or opens one: its fleet call goes out when the round closes. */
  private async liveness(workerId: string): Promise<WorkerLiveness> {
    let round = this.round;
    if (!round) {
      const ids = new Set<string>();
      const statuses = new Promise<void>((resolve) => setTimeout(resolve, this.roundMs)).then(() => {
        if (this.round === round) this.round = undefined;
        return this.fleet.statuses([...ids]);
      });
      round = { ids, statuses };
      this.round = round;
    }
    round.ids.add(workerId);
    return (await round.statuses).get(workerId) ?? 'gone';
  }

  private async heartbeat(workerId: string): Promise<Heartbeat | undefined> {
    let body: Buffer;
    try {
      body = await this.outputBucket.getBuffer(heartbeatKey(workerId));
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    try {
      return parseHeartbeat(body.toString('utf8'));
    } catch {
      return undefined; // unreadable: the same as none (no sign of progress)
    }
  }
}
