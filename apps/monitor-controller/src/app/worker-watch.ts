import { NotFoundError, type ObjectStore } from '@app/aws';
import { heartbeatKey, parseHeartbeat, type Heartbeat } from '@app/contracts';
import type { Fleet, WorkerLiveness } from '@app/fleet';

export interface WorkerView {
  /** The fleet's own view: the process or instance exists. */
  liveness: WorkerLiveness;
  /** What the worker last wrote of itself, if anything (or nothing readable). */
  heartbeat?: Heartbeat;
}

/**
 * A worker's liveness (Fleet.status) and heartbeat, each read at most once per
 * `ttlMs` per worker: a worker holding twenty images has twenty checks due at
 * about the same moment, and one look answers them all.
 */
export class WorkerWatch {
  private readonly seen = new Map<string, { at: number; view: Promise<WorkerView> }>();

  constructor(
    private readonly fleet: Fleet,
    private readonly outputBucket: ObjectStore,
    private readonly ttlMs = 1000,
  ) {}

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
    const [liveness, heartbeat] = await Promise.all([this.fleet.status(workerId), this.heartbeat(workerId)]);
    return { liveness, heartbeat };
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
