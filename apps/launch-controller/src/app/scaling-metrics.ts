import { Counter, Gauge } from 'prom-client';
import type { FleetCounts, ScalingDecision } from '@app/fleet';
import type { MetricsRegistry } from '@app/platform';

/** The scaling loop's Prometheus metrics. */
export class ScalingMetrics {
  readonly workers: Gauge<'state'>;
  readonly unlisted: Gauge;
  readonly backlog: Gauge;
  readonly desired: Gauge;
  readonly decisions: Counter<'action' | 'rule'>;
  readonly launched: Counter;
  readonly shortfall: Counter;
  readonly launchFailures: Counter<'kind'>;
  readonly errors: Counter;

  constructor(registry: MetricsRegistry) {
    const registers = [registry];
    this.workers = new Gauge({ name: 'ics_workers', help: 'Workers by state (launches not listed yet count as pending)', labelNames: ['state'], registers });
    this.unlisted = new Gauge({ name: 'ics_workers_unlisted', help: 'Launched workers the fleet does not list yet', registers });
    this.backlog = new Gauge({ name: 'ics_launch_backlog', help: 'Launch queue messages: visible + in flight + delayed', registers });
    this.desired = new Gauge({ name: 'ics_workers_desired', help: 'Workers the policy asks for, before MAX_WORKERS', registers });
    this.decisions = new Counter({ name: 'ics_scaling_decisions_total', help: 'Scaling decisions by action and rule', labelNames: ['action', 'rule'], registers });
    this.launched = new Counter({ name: 'ics_workers_launched_total', help: 'Workers launched', registers });
    this.shortfall = new Counter({ name: 'ics_launch_shortfall_total', help: 'Workers asked for but not launched (partial capacity)', registers });
    this.launchFailures = new Counter({ name: 'ics_launch_failures_total', help: 'Launches that failed outright, by error', labelNames: ['kind'], registers });
    this.errors = new Counter({ name: 'ics_scaling_errors_total', help: 'Ticks that failed', registers });
  }

  observe(d: ScalingDecision, w: FleetCounts, unlisted: number): void {
    this.backlog.set(d.backlog);
    this.desired.set(d.desired);
    this.unlisted.set(unlisted);
    for (const s of ['pending', 'running', 'terminating', 'busy', 'free'] as const) this.workers.set({ state: s }, w[s]);
    this.decisions.inc({ action: d.action, rule: d.rule });
  }
}
