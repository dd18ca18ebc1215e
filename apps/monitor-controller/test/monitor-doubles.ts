import { NotFoundError, type ObjectStore, type Queue } from '@app/aws';
import type { AppConfig } from '@app/config';
import { Fleet, type WorkerInstance, type WorkerLiveness } from '@app/fleet';

/** In-memory stand-ins for what the deadline monitor touches, for tests of its decisions alone. */

/** The output bucket as the monitor uses it, in memory. */
export function memoryBucket() {
  const objects = new Map<string, string>();
  const bucket = {
    getBuffer: async (key: string) => {
      const body = objects.get(key);
      if (body === undefined) throw new NotFoundError(`no such key ${key}`, 's3.GetObject');
      return Buffer.from(body);
    },
    exists: async (key: string) => objects.has(key),
    put: async (key: string, body: string) => void objects.set(key, String(body)),
    putIfAbsent: async (key: string, body: string) => {
      if (objects.has(key)) return 'exists';
      objects.set(key, String(body));
      return 'created';
    },
  } as unknown as ObjectStore;
  return { bucket, objects };
}

/** A queue that keeps what is sent to it (and each message's delay, in seconds). */
export function recordingQueue() {
  const sent: string[] = [];
  const delays: (number | undefined)[] = [];
  const queue = {
    url: 'memory://queue',
    consumers: new Set(),
    receive: async () => [],
    send: async (body: string, delaySeconds?: number) => (sent.push(body), delays.push(delaySeconds), String(sent.length)),
    sendBatch: async (entries: { body: string }[]) => (sent.push(...entries.map((e) => e.body)), []),
  } as unknown as Queue;
  return { queue, sent, delays };
}

/** A fleet whose instances are all alive (the instance outlives its worker process). */
export class OneInstanceFleet extends Fleet {
  readonly terminated: string[] = [];
  constructor(private readonly liveness: WorkerLiveness = 'alive') {
    super();
  }
  async launch(): Promise<WorkerInstance[]> {
    return [];
  }
  async list(): Promise<WorkerInstance[]> {
    return [];
  }
  /** How many times the fleet was asked about liveness, and about how many workers each time. */
  readonly statusCalls: number[] = [];
  override async status(): Promise<WorkerLiveness> {
    this.statusCalls.push(1);
    return this.liveness;
  }
  override async statuses(ids: readonly string[]): Promise<Map<string, WorkerLiveness>> {
    this.statusCalls.push(ids.length);
    return new Map(ids.map((id) => [id, this.liveness]));
  }
  async terminate(id: string): Promise<void> {
    this.terminated.push(id);
  }
}

/** The monitor's settings the in-memory specs use: three attempts, checks every 5 s, a 30 s visibility. */
export const MONITOR_TEST_CONFIG = {
  fleet: { maxAttempts: 3 },
  worker: { livenessCheckSeconds: 5 },
  scaling: { monitorVisibilitySeconds: 30 },
  consumerHandlerTimeoutSeconds: 180,
} as unknown as AppConfig;
