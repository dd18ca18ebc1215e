import type { ObjectStore } from '@app/aws';
import { heartbeat, heartbeatKey, serialize, type HeldImage } from '@app/contracts';
import type { WorkerLogger } from './logger';

export interface HeartbeatSettings {
  /** Rewrite this often while images are held. */
  intervalMs: number;
  /** Keep a handed-back or failed image listed this long (the monitor's next check must see it). */
  keepMs: number;
}

const key = (r: HeldImage) => `${r.imageId}#${r.attempt}#${r.handBacks ?? 0}`;

/**
 * The worker's heartbeat (`heartbeats/<workerId>.json`): what it holds, when
 * it last made progress, and what it recently handed back or gave up on. The
 * monitor controller reads it to tell a progressing worker from a hung one.
 * Rewritten every `intervalMs` while images are held and at once when an image
 * is handed back or given up (one write in flight at a time, the latest state
 * wins). A failed write is logged and tried again at the next beat.
 */
export class HeartbeatKeeper {
  private readonly held = new Map<string, HeldImage>();
  private readonly handedBack = new Map<string, { ref: HeldImage; at: number }>();
  private readonly failed = new Map<string, { ref: HeldImage; at: number }>();
  private progressAt = new Date();
  private imagesDone = 0;
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private again = false;
  private failing = false;

  constructor(
    private readonly bucket: ObjectStore,
    private readonly workerId: string,
    private readonly settings: HeartbeatSettings,
    private readonly log: WorkerLogger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      // A write in flight is this beat already: asking for another would keep its callers
      // waiting for as long as storage is slower than the beat.
      if (this.writing) return;
      if (this.held.size > 0 || this.handedBack.size > 0 || this.failed.size > 0) void this.write();
    }, this.settings.intervalMs);
    this.timer.unref();
  }

  /** Stops beating after one last write of the final state. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.write();
  }

  hold(ref: HeldImage): void {
    const first = this.held.size === 0;
    this.held.set(key(ref), ref);
    // The first image after a pause: say so now rather than at the next beat.
    if (first) void this.write();
  }

  release(ref: HeldImage): void {
    this.held.delete(key(ref));
  }

  /** Some image moved on a stage. */
  progress(done = false): void {
    this.progressAt = new Date();
    if (done) this.imagesDone++;
  }

  /** Handed back to the launch queue (same attempt): the monitor ends this take's checks. */
  handBack(ref: HeldImage): Promise<void> {
    this.release(ref);
    this.handedBack.set(key(ref), { ref, at: Date.now() });
    return this.write();
  }

  /** Given up by this worker (not the image's fault): the monitor retries it at once. */
  fail(ref: HeldImage): Promise<void> {
    this.release(ref);
    this.failed.set(key(ref), { ref, at: Date.now() });
    return this.write();
  }

  /** Writes now (coalesced with a write in flight); resolves when the state as of this call is stored or failed. */
  write(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return this.writing;
    }
    this.writing = this.writeLoop().finally(() => (this.writing = undefined));
    return this.writing;
  }

  private async writeLoop(): Promise<void> {
    do {
      this.again = false;
      const now = Date.now();
      for (const list of [this.handedBack, this.failed]) {
        for (const [k, v] of list) if (now - v.at > this.settings.keepMs) list.delete(k);
      }
      const body = serialize(
        heartbeat({
          workerId: this.workerId,
          at: new Date(now).toISOString(),
          progressAt: this.progressAt.toISOString(),
          imagesDone: this.imagesDone,
          held: [...this.held.values()],
          handedBack: [...this.handedBack.values()].map((v) => v.ref),
          failed: [...this.failed.values()].map((v) => v.ref),
        }),
      );
      try {
        await this.bucket.put(heartbeatKey(this.workerId), body, { contentType: 'application/json' });
        if (this.failing) this.log.info({ workerId: this.workerId }, 'heartbeat written again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.log.warn({ workerId: this.workerId, reason: (err as Error).message }, 'cannot write the heartbeat: trying again at the next beat');
        this.failing = true;
        return;
      }
    } while (this.again);
  }
}
