import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InstanceProcess, WORKER_UNIT } from './instance-process';
import { PendingTimers } from './timers';

export const INSTANCE_STATE_CODES = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
} as const;
export type InstanceStateName = keyof typeof INSTANCE_STATE_CODES;

/** What RunInstances asked for, per instance. */
export interface LaunchSpec {
  reservationId: string;
  imageId: string;
  instanceType: string;
  launchTemplate?: { id: string; name: string; version: string };
  clientToken?: string;
  shutdownBehavior: 'terminate' | 'stop';
  /** InstanceMarketOptions.MarketType: a Spot instance can be interrupted by EC2. */
  market: 'on-demand' | 'spot';
  /** The one-time Spot request EC2 makes for a Spot RunInstances (`sir-…`). */
  spotInstanceRequestId?: string;
  tags: Record<string, string>;
  /** The worker's environment (what the launch template's user data writes); undefined: no worker. */
  workerEnv?: Record<string, string>;
}

export interface StandInInstance extends LaunchSpec {
  id: string;
  /** Launch order, for stable pagination. */
  seq: number;
  amiLaunchIndex: number;
  state: InstanceStateName;
  stateReason?: { code: string; message: string; at: number };
  launchTime: Date;
  /** DescribeInstances shows it from this time on (describe lag). */
  visibleAt: number;
  /** When it reached `running`. */
  runningAt?: number;
  /** When it reached `terminated` (or `stopped`). */
  endedAt?: number;
  privateIp: string;
  process?: InstanceProcess;
  /** A Spot interruption under way: what the instance's `spot/instance-action` serves. */
  interruption?: SpotInterruption;
}

/** EC2's interruption notice: the action it will take, and when (ms since the epoch). */
export interface SpotInterruption {
  action: 'terminate';
  noticeAt: number;
  at: number;
}

/** A read-only picture of one instance, for tests and tools. */
export interface InstanceView {
  id: string;
  state: InstanceStateName;
  stateReason?: string;
  launchTime: Date;
  /** When it went running, and when it ended (terminated or stopped), if it has. */
  runningAt?: Date;
  endedAt?: Date;
  tags: Record<string, string>;
  launchTemplateId?: string;
  /** DescribeInstances' InstanceLifecycle: `spot`, or undefined for on-demand. */
  lifecycle?: 'spot';
  /** When its interruption notice appeared and when it is (or was) terminated for it. */
  interruption?: { noticeAt: Date; at: Date };
  pid?: number;
  /** Metadata endpoint the instance's worker reads its identity from. */
  metadataEndpoint: string;
}

export interface WorkerProcessSettings {
  main: string;
  cwd: string;
  logDir: string;
  killGraceMs: number;
  restartDelayMs: number;
}

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/**
 * The stand-in's instances and their life: pending → running after the boot
 * delay (then the worker starts); a terminate, or the instance powering itself
 * off, goes shutting-down → terminated once the worker has exited.
 */
export class InstanceTable {
  private readonly byId = new Map<string, StandInInstance>();
  private readonly timers = new PendingTimers();
  private nextIp = 10;
  private seq = 0;
  private closed = false;

  constructor(
    private readonly o: {
      bootMs: () => number;
      worker?: WorkerProcessSettings;
      metadataEndpoint: (id: string) => string;
      binDir: string;
      log: (msg: string) => void;
      /** Told each time an instance reaches `running` (Spot interruptions are timed from then). */
      onRunning?: (i: StandInInstance) => void;
    },
  ) {}

  all(): StandInInstance[] {
    return [...this.byId.values()];
  }

  get(id: string): StandInInstance | undefined {
    return this.byId.get(id);
  }

  /** Instances that hold capacity: everything not yet terminated or stopped. */
  alive(): StandInInstance[] {
    return this.all().filter((i) => i.state !== 'terminated' && i.state !== 'stopped');
  }

  launch(spec: LaunchSpec, count: number, visibleAfterMs: number): StandInInstance[] {
    const now = Date.now();
    const launched: StandInInstance[] = [];
    for (let n = 0; n < count; n++) {
      const i: StandInInstance = {
        ...spec,
        tags: { ...spec.tags },
        id: newId('i'),
        spotInstanceRequestId: spec.market === 'spot' ? newId('sir') : undefined,
        seq: this.seq++,
        amiLaunchIndex: n,
        state: 'pending',
        launchTime: new Date(Math.floor(now / 1000) * 1000),
        visibleAt: now + visibleAfterMs,
        privateIp: `10.0.${Math.floor(this.nextIp / 250) % 250}.${(this.nextIp++ % 250) + 2}`,
      };
      this.byId.set(i.id, i);
      launched.push(i);
      this.o.log(`${i.id}: pending (boots in ${this.o.bootMs() / 1000} s)`);
      this.timers.after(this.o.bootMs(), () => this.boot(i));
    }
    return launched;
  }

  private boot(i: StandInInstance): void {
    if (i.state !== 'pending' || this.closed) return;
    i.state = 'running';
    i.runningAt = Date.now();
    this.o.log(`${i.id}: running`);
    this.o.onRunning?.(i);
    const w = this.o.worker;
    if (!w || !i.workerEnv) return;
    mkdirSync(w.logDir, { recursive: true });
    i.process = new InstanceProcess(
      {
        instanceId: i.id,
        main: w.main,
        cwd: w.cwd,
        env: { ...i.workerEnv, WORKER_PLATFORM: 'ec2', AWS_EC2_METADATA_SERVICE_ENDPOINT: this.o.metadataEndpoint(i.id) },
        logFile: join(w.logDir, `${i.id}.log`),
        binDir: this.o.binDir,
        restartDelayMs: w.restartDelayMs,
        startLimitBurst: WORKER_UNIT.startLimitBurst,
        startLimitIntervalMs: WORKER_UNIT.startLimitIntervalMs,
      },
      (reason) => this.powerOff(i.id, reason),
      this.o.log,
    );
    i.process.start();
  }

  /** TerminateInstances: returns the state before. */
  terminate(id: string): InstanceStateName {
    const i = this.byId.get(id);
    if (!i) throw new Error(`no instance ${id}`);
    const previous = i.state;
    if (previous === 'terminated' || previous === 'shutting-down') return previous;
    this.shutDown(i, 'shutting-down', { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' });
    return previous;
  }

  /** EC2 takes the instance back (a Spot interruption): terminated whatever its shutdown behaviour. */
  reclaim(id: string, reason: { code: string; message: string }): boolean {
    const i = this.byId.get(id);
    if (!i || (i.state !== 'running' && i.state !== 'pending')) return false;
    this.o.log(`${i.id}: terminated by EC2 (${reason.code})`);
    this.shutDown(i, 'shutting-down', reason);
    return true;
  }

  /** The instance's OS powered off: its shutdown behaviour decides whether it terminates or stops. */
  powerOff(id: string, why: string): boolean {
    const i = this.byId.get(id);
    if (!i || (i.state !== 'running' && i.state !== 'pending')) return false;
    this.o.log(`${i.id}: instance-initiated shutdown (${why})`);
    this.shutDown(i, i.shutdownBehavior === 'stop' ? 'stopping' : 'shutting-down', {
      code: 'Client.InstanceInitiatedShutdown',
      message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
    });
    return true;
  }

  private shutDown(i: StandInInstance, via: 'shutting-down' | 'stopping', reason: { code: string; message: string }): void {
    i.state = via;
    i.stateReason = { ...reason, at: Date.now() };
    this.o.log(`${i.id}: ${via}`);
    const stopped = i.process?.stop(this.o.worker?.killGraceMs ?? 0) ?? Promise.resolve();
    void stopped.then(() => {
      // A later transition (a terminate while stopping) finishes the instance itself.
      if (i.state !== via) return;
      i.state = via === 'stopping' ? 'stopped' : 'terminated';
      i.endedAt = Date.now();
      i.process = undefined;
      this.o.log(`${i.id}: ${i.state}`);
    });
  }

  /** Forgets instances that ended more than `keepMs` ago (EC2 shows terminated ones for about an hour). */
  expire(keepMs: number): void {
    const now = Date.now();
    for (const i of this.byId.values()) if (i.state === 'terminated' && i.endedAt !== undefined && now - i.endedAt > keepMs) this.byId.delete(i.id);
  }

  view(i: StandInInstance): InstanceView {
    return {
      id: i.id,
      state: i.state,
      stateReason: i.stateReason?.code,
      launchTime: i.launchTime,
      runningAt: i.runningAt === undefined ? undefined : new Date(i.runningAt),
      endedAt: i.endedAt === undefined ? undefined : new Date(i.endedAt),
      tags: { ...i.tags },
      launchTemplateId: i.launchTemplate?.id,
      lifecycle: i.market === 'spot' ? 'spot' : undefined,
      interruption: i.interruption && { noticeAt: new Date(i.interruption.noticeAt), at: new Date(i.interruption.at) },
      pid: i.process?.pid,
      metadataEndpoint: this.o.metadataEndpoint(i.id),
    };
  }

  /** Stops every worker (SIGTERM, then SIGKILL) and every pending boot. */
  async close(): Promise<void> {
    this.closed = true;
    this.timers.cancelAll();
    await Promise.all(this.all().map((i) => i.process?.stop(this.o.worker?.killGraceMs ?? 0)));
  }
}
