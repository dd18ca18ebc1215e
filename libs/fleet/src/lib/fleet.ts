import type { WorkerState } from '@app/contracts';

export type InstanceState = 'pending' | 'running' | 'terminating';

export interface WorkerInstance {
  /** EC2 instance id, or `local-N` for a local process. */
  id: string;
  state: InstanceState;
  launchedAt: Date;
  /** What the worker last said of itself (undefined until it has said anything). */
  workerState?: WorkerState;
  /** True while it is classifying an image. */
  busy: boolean;
  /** EC2 workers: a Spot instance (EC2 may interrupt it) or an on-demand one. */
  capacity?: 'spot' | 'on-demand';
}

/** A worker's liveness in the fleet's own view: its process or instance exists, or not. */
export type WorkerLiveness = 'alive' | 'gone';

/**
 * The classifier workers of one stack, wherever they run. Providers: EC2
 * instances (`Ec2Fleet`) or processes on this machine (`LocalProcessFleet`).
 */
export abstract class Fleet {
  /** Starts `count` workers; resolves with them as launched (pending). */
  abstract launch(count: number): Promise<WorkerInstance[]>;
  /** Workers that are alive: pending, running or terminating. */
  abstract list(): Promise<WorkerInstance[]>;
  /** Ends one worker; a worker that is already gone is not an error. */
  abstract terminate(id: string): Promise<void>;
  /**
   * Whether one worker is still there (the monitor controller re-queues a gone
   * worker's images at once). An id the fleet never had is gone. Providers
   * answer from the source (process table, instance state); this default
   * reads the whole list.
   */
  async status(id: string): Promise<WorkerLiveness> {
    return (await this.list()).some((w) => w.id === id) ? 'alive' : 'gone';
  }

  /**
   * The liveness of many workers in one look (the monitor checks every watched
   * worker each round: one EC2 call, not one per worker). This default asks
   * status() of each, for providers whose look is local and cheap.
   */
  async statuses(ids: readonly string[]): Promise<Map<string, WorkerLiveness>> {
    return new Map(await Promise.all(ids.map(async (id) => [id, await this.status(id)] as const)));
  }
}

export interface FleetCounts {
  pending: number;
  running: number;
  terminating: number;
  busy: number;
  /** Running and not busy. */
  free: number;
  /** Everything that still uses a slot: pending + running + terminating. */
  alive: number;
}

export function countFleet(workers: WorkerInstance[]): FleetCounts {
  const c = { pending: 0, running: 0, terminating: 0, busy: 0, free: 0, alive: workers.length };
  for (const w of workers) {
    c[w.state]++;
    if (w.state === 'running') {
      if (w.busy) c.busy++;
      else c.free++;
    }
  }
  return c;
}
