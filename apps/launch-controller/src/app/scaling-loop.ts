import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { AwsResources, type QueueDepth } from '@app/aws';
import { AppConfig } from '@app/config';
import { countFleet, Ec2Fleet, Fleet, ScalingPolicy, type FleetCounts, type ScalingDecision, type WorkerInstance } from '@app/fleet';
import { MetricsRegistry } from '@app/platform';

export interface FleetStatus {
  workers: FleetCounts;
  instances: WorkerInstance[];
  launchQueue: QueueDepth;
  lastDecision?: ScalingDecision & { at: string };
  lastLaunch?: { at: string; count: number; ids: string[] };
  lastError?: { at: string; message: string };
  maxWorkers: number;
  updatedAt?: string;
}

/**
 * The scaling loop: every SCALE_TICK_MS, read the launch queue's backlog and
 * the fleet, and launch what the policy asks for. Ticks never overlap (each is
 * scheduled when the last one ends), so a slow launch cannot double-launch.
 */
@Injectable()
export class ScalingLoop implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScalingLoop.name);
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastLogged = '';
  private current?: Promise<unknown>;
  readonly status: FleetStatus;
  private readonly metrics: {
    workers: Gauge<'state'>;
    backlog: Gauge;
    decisions: Counter<'action'>;
    launched: Counter;
    errors: Counter;
  };

  constructor(
    private readonly config: AppConfig,
    private readonly aws: AwsResources,
    private readonly fleet: Fleet,
    registry: MetricsRegistry,
  ) {
    // A launch controller that could never launch should not start at all.
    if (config.scaling.provider === 'ec2') Ec2Fleet.assertCanLaunch(config.scaling);
    this.status = {
      workers: countFleet([]),
      instances: [],
      launchQueue: { visible: 0, inFlight: 0, delayed: 0 },
      maxWorkers: config.fleet.maxWorkers,
    };
    this.metrics = {
      workers: new Gauge({ name: 'ics_workers', help: 'Workers by state', labelNames: ['state'], registers: [registry] }),
      backlog: new Gauge({ name: 'ics_launch_backlog', help: 'Launch queue messages: visible + in flight + delayed', registers: [registry] }),
      decisions: new Counter({ name: 'ics_scaling_decisions_total', help: 'Scaling decisions', labelNames: ['action'], registers: [registry] }),
      launched: new Counter({ name: 'ics_workers_launched_total', help: 'Workers launched', registers: [registry] }),
      errors: new Counter({ name: 'ics_scaling_errors_total', help: 'Ticks that failed', registers: [registry] }),
    };
  }

  onApplicationBootstrap(): void {
    this.logger.log(
      `scaling every ${this.config.scaling.tickMs} ms: MAX_WORKERS=${this.config.fleet.maxWorkers}, ` +
        `TARGET_BACKLOG_PER_WORKER=${this.config.scaling.targetBacklogPerWorker}, provider=${this.config.scaling.provider}`,
    );
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.current = this.tick().finally(() => this.schedule(this.config.scaling.tickMs));
    }, delayMs);
  }

  /** One scaling decision. Never throws: a failed tick is logged and the next one tries again. */
  async tick(): Promise<ScalingDecision | undefined> {
    try {
      const [depth, instances] = await Promise.all([this.aws.launchQueue.depth(), this.fleet.list()]);
      const workers = countFleet(instances);
      const decision = ScalingPolicy.decide({
        depth,
        fleet: workers,
        maxWorkers: this.config.fleet.maxWorkers,
        targetBacklogPerWorker: this.config.scaling.targetBacklogPerWorker,
      });
      const at = new Date().toISOString();
      Object.assign(this.status, { workers, instances, launchQueue: depth, lastDecision: { ...decision, at }, updatedAt: at });
      this.metrics.backlog.set(decision.backlog);
      for (const s of ['pending', 'running', 'terminating', 'busy', 'free'] as const) this.metrics.workers.set({ state: s }, workers[s]);
      this.metrics.decisions.inc({ action: decision.action });
      this.log(decision, workers);
      if (decision.action === 'launch' && !this.stopped) {
        const launched = await this.fleet.launch(decision.count);
        this.metrics.launched.inc(launched.length);
        // Show the new workers now rather than a tick later: the status is what people watch.
        const after = countFleet([...instances, ...launched]);
        Object.assign(this.status, { workers: after, instances: [...instances, ...launched] });
        this.status.lastLaunch = { at: new Date().toISOString(), count: launched.length, ids: launched.map((w) => w.id) };
        this.logger.log({ msg: `launched ${launched.length} worker(s)`, ids: this.status.lastLaunch.ids });
      }
      return decision;
    } catch (err) {
      this.metrics.errors.inc();
      const message = (err as Error).message;
      this.status.lastError = { at: new Date().toISOString(), message };
      this.logger.warn(`scaling tick failed, will retry: ${message}`);
      return undefined;
    }
  }

  /** Every decision is logged with its inputs; unchanged holds only at debug, so an idle system stays quiet. */
  private log(d: ScalingDecision, w: FleetCounts): void {
    const line = {
      msg: `${d.action}${d.count ? ` ${d.count}` : ''}: ${d.reason}`,
      action: d.action,
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
