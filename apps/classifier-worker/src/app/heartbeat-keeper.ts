import { randomUUID } from 'node:crypto';
import type { ObjectStore } from '@app/aws';
import { heartbeat, heartbeatKey, serialize, type HeldImage } from '@app/contracts';
import type { WorkerLogger } from './logger';

export interface HeartbeatSettings {
  /** Write at most once this often (and at least this often while anything is listed). */
  intervalMs: number;
  /** Keep a handed-back image listed this long (the monitor's next check must see it). */
  keepMs: number;
  /** Most failed takes listed at once (the oldest go first past it). */
  maxFailed?: number;
}

export interface HeartbeatDeps {
  bucket: ObjectStore;
  workerId: string;
  settings: HeartbeatSettings;
  log: WorkerLogger;
  /**
   * Whether the monitor has acted on a failed take (queued a later attempt, or an answer is
   * written): until then the take stays listed, however long the monitor takes.
   */
  actedOn: (ref: HeldImage) => Promise<boolean>;
  /** This process's session id (default: a random one). */
  session?: string;
}

const key = (r: HeldImage) => `${r.imageId}#${r.attempt}#${r.handBacks ?? 0}`;
const DEFAULT_MAX_FAILED = 500;

/**
 * The worker's heartbeat (`heartbeats/<workerId>.json`): this process's
 * session, what it holds, when it last made progress, and what it handed back
 * or gave up on. The monitor controller reads it to tell a progressing worker
 * from a hung one, and a restarted process from the one that held an image.
 *
 * One write per interval at most, whatever the number of images: a beat
 * writes when something changed since the last write or anything is listed.
 * It is written at once when the session starts (so that the monitor sees a
 * restarted process), when an image is handed back or given up (so that the
 * monitor acts at its next check), and as the session stops (`final`). One
 * write in flight at a time, the latest state wins; a failed write is logged
 * and tried again at the next beat.
 */
export class HeartbeatKeeper {
  readonly session: string;
  private readonly held = new Map<string, HeldImage>();
  private readonly handedBack = new Map<string, { ref: HeldImage; at: number }>();
  private readonly failed = new Map<string, HeldImage>();
  private progressAt = new Date();
  private imagesDone = 0;
  private dirty = true;
  private final = false;
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private again = false;
  private failing = false;

  constructor(private readonly d: HeartbeatDeps) {
    this.session = d.session ?? randomUUID();
  }

  /** Starts beating, with a first write that announces this session. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.beat(), this.d.settings.intervalMs);
    this.timer.unref();
    void this.write();
  }

  /** Stops beating after one last write of the final state (marked final). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.final = true;
    await this.write();
  }

  hold(ref: HeldImage): void {
    this.held.set(key(ref), ref);
    this.dirty = true;
  }

  release(ref: HeldImage): void {
    if (this.held.delete(key(ref))) this.dirty = true;
  }

  get holding(): HeldImage[] {
    return [...this.held.values()];
  }

  /** Some image moved on a stage. */
  progress(done = false): void {
    this.progressAt = new Date();
    if (done) this.imagesDone++;
  }

  /** Handed back to the launch queue (same attempt): the monitor ends this take's checks. */
  handBack(ref: HeldImage): Promise<void> {
    this.held.delete(key(ref));
    this.handedBack.set(key(ref), { ref, at: Date.now() });
    return this.write();
  }

  /** Given up by this worker (not the image's fault): the monitor retries it at its next check. */
  fail(ref: HeldImage): Promise<void> {
    this.held.delete(key(ref));
    this.failed.delete(key(ref));
    this.failed.set(key(ref), ref);
    const max = this.d.settings.maxFailed ?? DEFAULT_MAX_FAILED;
    for (const [k, oldest] of this.failed) {
      if (this.failed.size <= max) break;
      this.failed.delete(k);
      this.d.log.warn({ imageId: oldest.imageId, attempt: oldest.attempt, max }, 'too many failed images listed: the oldest is no longer listed (its deadline check still retries it)');
    }
    return this.write();
  }

  private beat(): void {
    // A write in flight is this beat already: asking for another would keep its callers
    // waiting for as long as storage is slower than the beat.
    if (this.writing) return;
    if (this.dirty || this.held.size > 0 || this.handedBack.size > 0 || this.failed.size > 0) void this.write();
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

  /** Drops handed-back takes past keepMs and failed takes the monitor has acted on. */
  private async prune(now: number): Promise<void> {
    for (const [k, v] of this.handedBack) if (now - v.at > this.d.settings.keepMs) this.handedBack.delete(k);
    for (const [k, ref] of [...this.failed]) {
      try {
        if (await this.d.actedOn(ref)) this.failed.delete(k);
      } catch {
        // Cannot tell now: listed a while longer.
      }
    }
  }

  private async writeLoop(): Promise<void> {
    do {
      this.again = false;
      this.dirty = false;
      await this.prune(Date.now());
      const body = serialize(
        heartbeat({
          workerId: this.d.workerId,
          session: this.session,
          at: new Date().toISOString(),
          progressAt: this.progressAt.toISOString(),
          imagesDone: this.imagesDone,
          held: [...this.held.values()],
          handedBack: [...this.handedBack.values()].map((v) => v.ref),
          failed: [...this.failed.values()],
          ...(this.final ? { final: true } : {}),
        }),
      );
      try {
        await this.d.bucket.put(heartbeatKey(this.d.workerId), body, { contentType: 'application/json' });
        if (this.failing) this.d.log.info({ workerId: this.d.workerId }, 'heartbeat written again');
        this.failing = false;
      } catch (err) {
        this.dirty = true;
        if (!this.failing) this.d.log.warn({ workerId: this.d.workerId, reason: (err as Error).message }, 'cannot write the heartbeat: trying again at the next beat');
        this.failing = true;
        return;
      }
    } while (this.again);
  }
}
