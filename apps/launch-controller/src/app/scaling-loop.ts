import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { AwsResources, type QueueDepth } from '@app/aws';
import { AppConfig } from '@app/config';
import {
  Backoff,
  countFleet,
  Ec2Fleet,
  Fleet,
  InsufficientCapacityError,
  LaunchPlanner,
  ScalingPolicy,
  type FleetCounts,
  type ScalingDecision,
  type WorkerInstance,
} from '@app/fleet';
import { MetricsRegistry } from '@app/platform';
import { hostname } from 'node:os';
import { LaunchLease, type LeaseState } from './launch-lease';
import { ScalingMetrics } from './scaling-metrics';

export interface FleetStatus {
  workers: FleetCounts;
  instances: WorkerInstance[];
  launchQueue: QueueDepth;
  policy: string;
  lastDecision?: ScalingDecision & { at: string };
  lastLaunch?: { at: string; requested: number; count: number; ids: string[] };
  /** Set while launches wait after a short or failed one. */
  launchBackoff?: { reason: string; failures: number };
  lastError?: { at: string; message: string };
  /** `holder`: this controller launches; `standby`: another one does, and this one takes over if it stops renewing. */
  lease: LeaseState;
  /** Did the last tick read the queue and the fleet and act on them? */
  lastTickOk?: boolean;
  maxWorkers: number;
  /** When the last tick succeeded. */
  updatedAt?: string;
}

/** The time the scaling loop decides by and waits on between ticks. */
export interface LoopClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The wall clock and Node's timers. */
export const SYSTEM_CLOCK: LoopClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Injection token of the loop's clock (default: SYSTEM_CLOCK). A test gives a
 * virtual one, to run many ticks, back-offs included, without waiting for them.
 */
export const SCALING_CLOCK = Symbol('SCALING_CLOCK');

/**
 * The scaling loop: every SCALE_TICK_MS, read the launch queue's backlog and
 * the fleet, and launch what the planner asks for. Ticks never overlap (each is
 * scheduled when the last one ends); a failing tick is retried with back-off.
 * The decisions themselves (policy, launches in flight, launch back-off) are
 * the LaunchPlanner's, shared with the simulator.
 */
@Injectable()
export class ScalingLoop implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScalingLoop.name);
  private timer?: unknown;
  private stopped = false;
  private lastLogged = '';
  private current?: Promise<unknown>;
  private readonly planner: LaunchPlanner;
  private readonly tickBackoff: Backoff;
  private readonly metrics: ScalingMetrics;
  private leaseTimer?: NodeJS.Timeout;
  private leaseCheck?: Promise<unknown>;
  readonly lease: LaunchLease;
  readonly status: FleetStatus;

  constructor(
    private readonly config: AppConfig,
    private readonly aws: AwsResources,
    private readonly fleet: Fleet,
    registry: MetricsRegistry,
    @Optional() @Inject(SCALING_CLOCK) private readonly clock: LoopClock = SYSTEM_CLOCK,
  ) {
    const s = config.scaling;
    // A launch controller that could never launch should not start at all.
    if (s.provider === 'ec2') Ec2Fleet.assertCanLaunch(s);
    this.planner = new LaunchPlanner({
      policy: ScalingPolicy.named(s.policy),
      maxWorkers: config.fleet.maxWorkers,
      worker: {
        concurrency: s.workerConcurrency,
        prefetch: config.worker.prefetch,
        imageSeconds: s.imageSeconds,
        bootSeconds: s.workerBootSeconds,
      },
      targetBacklogPerWorker: s.targetBacklogPerWorker,
      inFlightMs: s.launchInFlightSeconds * 1000,
      backoff: { minMs: s.launchBackoffMs, maxMs: s.launchBackoffMaxMs, jitter: true },
    });
    this.tickBackoff = new Backoff({ minMs: s.tickMs, maxMs: Math.max(s.tickMs, s.launchBackoffMaxMs), jitter: true });
    this.status = {
      workers: countFleet([]),
      instances: [],
      launchQueue: { visible: 0, inFlight: 0, delayed: 0 },
      policy: s.policy,
      maxWorkers: config.fleet.maxWorkers,
      lease: 'standby',
    };
    this.metrics = new ScalingMetrics(registry);
    this.lease = new LaunchLease({ holder: `${hostname()}:${process.pid}`, leaseMs: s.leaseSeconds * 1000, store: aws.outputBucket });
  }

  async onApplicationBootstrap(): Promise<void> {
    const s = this.config.scaling;
    this.logger.log(
      `scaling every ${s.tickMs} ms with the ${s.policy} policy: MAX_WORKERS=${this.config.fleet.maxWorkers}, ` +
        (s.policy === 'one-per-message'
          ? `TARGET_BACKLOG_PER_WORKER=${s.targetBacklogPerWorker}, `
          : `WORKER_PREFETCH=${this.config.worker.prefetch}, WORKER_CONCURRENCY=${s.workerConcurrency}, ` +
            `IMAGE_SECONDS=${s.imageSeconds}, WORKER_BOOT_SECONDS=${s.workerBootSeconds}, `) +
        `provider=${s.provider}, LEASE_SECONDS=${s.leaseSeconds}`,
    );
    // The first tick knows whether this controller launches.
    await this.refreshLease();
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    clearTimeout(this.leaseTimer);
    await Promise.all([this.current, this.leaseCheck]);
    // A standby may take over at once rather than after the lease runs out.
    await this.lease.release();
  }

  /** Renews or takes the lease on its own timer, so a slow tick (a long launch) cannot let it lapse. */
  private refreshLease(): Promise<unknown> {
    if (this.stopped) return Promise.resolve();
    this.leaseCheck = this.lease
      .refresh()
      .then(({ state, changed, reason }) => {
        this.status.lease = state;
        if (changed) this.logger.log({ msg: `lease: now ${state} (${reason})`, lease: state });
        else if (reason.startsWith('lease check failed')) this.logger.warn(reason);
      })
      .finally(() => {
        if (!this.stopped) this.leaseTimer = setTimeout(() => void this.refreshLease(), this.lease.refreshEveryMs);
      });
    return this.leaseCheck;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.current = this.tick().finally(() =>
        // After failed ticks (SQS or EC2 unreachable, throttled), wait longer each time.
        this.schedule(Math.max(this.config.scaling.tickMs, this.tickBackoff.remaining(this.clock.now()))),
      );
    }, delayMs);
  }

  /** One scaling decision. Never throws: a failed tick is logged and the next one tries again. */
  async tick(): Promise<ScalingDecision | undefined> {
    this.status.lease = this.lease.state;
    if (this.status.lease === 'standby') {
      // Another controller launches; its fleet is not ours to plan. A standby that can renew nothing is still healthy.
      Object.assign(this.status, { lastTickOk: true, updatedAt: new Date().toISOString() });
      return undefined;
    }
    try {
      const [depth, listed] = await Promise.all([this.aws.launchQueue.depth(), this.fleet.list()]);
      const plan = this.planner.plan(this.clock.now(), depth, listed);
      for (const w of plan.expired) {
        this.logger.warn(`worker ${w.id} was never listed within ${this.config.scaling.launchInFlightSeconds} s of its launch: no longer counted`);
      }
      const { decision, workers } = plan;
      const at = new Date().toISOString();
      Object.assign(this.status, { workers, instances: plan.instances, launchQueue: depth, lastDecision: { ...decision, at } });
      this.metrics.observe(decision, workers, this.planner.unlisted.length);
      this.log(decision, workers);
      // Checked again right before launching: the lease may have lapsed while the queue and the fleet were read.
      if (decision.action === 'launch' && !this.stopped && this.lease.isHeld()) await this.launch(decision.count, plan.instances);
      this.status.launchBackoff = this.planner.backingOff;
      this.status.lastTickOk = true;
      this.status.updatedAt = new Date().toISOString();
      this.tickBackoff.succeed();
      return decision;
    } catch (err) {
      this.metrics.errors.inc();
      const message = (err as Error).message;
      this.status.lastError = { at: new Date().toISOString(), message };
      this.status.lastTickOk = false;
      const waitMs = this.tickBackoff.fail(this.clock.now(), message);
      this.logger.warn(`scaling tick failed, next try in ${(Math.max(waitMs, this.config.scaling.tickMs) / 1000).toFixed(1)} s: ${message}`);
      return undefined;
    }
  }

  /** Launches, remembers what started, and backs off a short or failed launch. */
  private async launch(count: number, before: WorkerInstance[]): Promise<void> {
    let launched: WorkerInstance[];
    try {
      launched = await this.fleet.launch(count);
    } catch (err) {
      const outcome = this.planner.failed(this.clock.now(), count, err as Error);
      this.metrics.launchFailures.inc({ kind: err instanceof InsufficientCapacityError ? 'capacity' : (err as Error).name || 'Error' });
      this.logger.warn({
        msg: `launch of ${count} failed, next launch in ${((outcome.backoff?.waitMs ?? 0) / 1000).toFixed(1)} s: ${(err as Error).message}`,
        requested: count,
      });
      // Capacity and throttling are the cloud's weather; anything else (a bad
      // launch template, no permission) is ours, and /health must say so.
      if ((err as { retryable?: boolean }).retryable !== true) throw err;
      return;
    }
    const outcome = this.planner.launched(this.clock.now(), count, launched);
    this.metrics.launched.inc(launched.length);
    // Show the new workers now rather than a tick later: the status is what people watch.
    const instances = [...before, ...launched];
    Object.assign(this.status, { workers: countFleet(instances), instances });
    const ids = launched.map((w) => w.id);
    this.status.lastLaunch = { at: new Date().toISOString(), requested: count, count: launched.length, ids };
    this.logger.log({ msg: `launched ${launched.length} worker(s)`, ids });
    if (outcome.backoff) {
      this.metrics.shortfall.inc(count - launched.length);
      this.logger.warn({
        msg: `launched ${launched.length} of ${count}, the other ${count - launched.length} in ${(outcome.backoff.waitMs / 1000).toFixed(1)} s at the earliest`,
        requested: count,
        launched: launched.length,
        reason: outcome.backoff.reason,
      });
    }
  }

  /** Every decision is logged with its inputs; unchanged holds only at debug, so an idle system stays quiet. */
  private log(d: ScalingDecision, w: FleetCounts): void {
    const line = {
      msg: `${d.action}${d.count ? ` ${d.count}` : ''}: ${d.reason}`,
      action: d.action,
      rule: d.rule,
      count: d.count,
      backlog: d.backlog,
      desired: d.desired,
      workers: { pending: w.pending, running: w.running, busy: w.busy, free: w.free, terminating: w.terminating },
    };
    const key = JSON.stringify({ ...line, msg: undefined });
    if (d.action === 'launch' || key !== this.lastLogged) this.logger.log(line);
    else this.logger.debug(line);
    this.lastLogged = key;
  }
}
