import seedrandom from 'seedrandom';
import { RECEIVE_GATHER_MS, receiveShare, SQS_BATCH_LIMIT } from '@app/aws';
import { LaunchPlanner, ScalingPolicy, type WorkerInstance } from '@app/fleet';
import { EventQueue } from './event-queue';
import { percentile } from '@tools/loadgen';
import type { Sample, SimulationConfig, SimulationResult } from './model';

export * from './model';

type Event =
  | { k: 'arrive'; image: number }
  | { k: 'tick' }
  | { k: 'ready'; w: SimWorker }
  | { k: 'poll'; w: SimWorker }
  | { k: 'gathered'; w: SimWorker }
  | { k: 'poll-ends'; w: SimWorker; token: number }
  | { k: 'finish'; w: SimWorker; image: number }
  | { k: 'die'; w: SimWorker }
  | { k: 'interrupt'; w: SimWorker }
  | { k: 'requeue'; images: number[]; sameAttempt?: boolean };

interface SimWorker {
  id: string;
  launchedAt: number;
  state: 'pending' | 'running' | 'gone';
  endedAt?: number;
  /** Received and not finished: waiting for a slot, or on one. */
  queued: number[];
  working: Set<number>;
  lastWork: number;
  longPolling: boolean;
  pollToken: number;
  /** Short of room for a receive: polls again when an image finishes, or its gather time is up. */
  blocked: boolean;
  /** With room for one message, when its ReceiveGate's gather time is up. */
  gatheredAt?: number;
  /** USD per hour: on-demand or Spot. */
  pricePerHour: number;
}

const r2 = (n: number) => Math.round(n * 100) / 100;

/**
 * The launch controller's real decisions (ScalingPolicy and LaunchPlanner from
 * libs/fleet) on a virtual clock, with the launch queue, the EC2 fleet and the
 * workers simulated as the real ones behave: a worker polls once booted, receives
 * as its ReceiveGate lets it (once a quarter of its WORKER_PREFETCH budget is free, or
 * one slot has been free for the gather time) up to ten messages at a time,
 * long-polls when there are none, works `concurrency` images at a time and
 * ends itself after IDLE_SECONDS without work.
 */
export class Simulation {
  private readonly events = new EventQueue<Event>();
  private readonly rng: seedrandom.prng;
  private readonly planner: LaunchPlanner;
  private readonly arrivedAt: number[];
  private readonly attempts: number[];
  private readonly doneAt: (number | undefined)[];
  private readonly failed = new Set<number>();
  private readonly visible: number[] = [];
  private visibleHead = 0;
  private readonly workers: SimWorker[] = [];
  private readonly longPollers: SimWorker[] = [];
  private readonly samples: Sample[] = [];
  private readonly launches: SimulationResult['launches'] = [];
  private done = 0;
  private interruptions = 0;
  /** Receive calls that took messages (not the long polls that found none). */
  private receives = 0;
  private spotLaunches = 0;
  private alive = 0;
  private peakAlive = 0;
  private now = 0;

  constructor(private readonly c: SimulationConfig) {
    for (const [name, v] of Object.entries({ maxWorkers: c.maxWorkers, concurrency: c.concurrency, prefetch: c.prefetch })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer (got ${v})`);
    }
    if (!(c.imageSeconds > 0)) throw new RangeError(`imageSeconds must be > 0 (got ${c.imageSeconds})`);
    if (!(c.failureRate >= 0 && c.failureRate < 1)) throw new RangeError(`failureRate must be in [0, 1) (got ${c.failureRate})`);
    if (!(c.tickSeconds > 0)) throw new RangeError(`tickSeconds must be > 0 (got ${c.tickSeconds})`);
    this.rng = seedrandom(`${c.seed}:fleet`);
    this.planner = new LaunchPlanner({
      policy: ScalingPolicy.named(c.policy),
      maxWorkers: c.maxWorkers,
      worker: {
        concurrency: c.concurrency,
        prefetch: c.prefetch,
        imageSeconds: c.assumed?.imageSeconds ?? c.imageSeconds,
        bootSeconds: c.assumed?.bootSeconds ?? c.bootSeconds,
      },
      targetBacklogPerWorker: c.targetBacklogPerWorker,
      inFlightMs: 120_000,
      backoff: { minMs: 2000, maxMs: 60_000, jitter: false },
    });
    this.arrivedAt = [...c.arrivals].sort((a, b) => a - b);
    this.attempts = this.arrivedAt.map(() => 1);
    this.doneAt = this.arrivedAt.map(() => undefined);
  }

  run(): SimulationResult {
    this.arrivedAt.forEach((t, image) => this.events.push(t, { k: 'arrive', image }));
    this.events.push(0, { k: 'tick' });
    const lastArrival = this.arrivedAt.at(-1) ?? 0;
    const horizon = lastArrival + (this.c.horizonSeconds ?? 24 * 3600);
    for (let e = this.events.pop(); e && e.at <= horizon; e = this.events.pop()) {
      this.now = e.at;
      this.handle(e.event);
      if (this.done === this.arrivedAt.length && this.alive === 0 && this.now >= lastArrival) break;
    }
    return this.result();
  }

  private handle(e: Event): void {
    switch (e.k) {
      case 'arrive':
        this.visible.push(e.image);
        return this.feedLongPollers();
      case 'tick':
        return this.tick();
      case 'ready':
        if (e.w.state !== 'pending') return;
        e.w.state = 'running';
        e.w.lastWork = this.now;
        return this.poll(e.w);
      case 'poll':
        return this.poll(e.w);
      case 'gathered':
        if (!e.w.blocked) return;
        e.w.blocked = false;
        return this.poll(e.w);
      case 'poll-ends':
        if (e.w.state !== 'running' || !e.w.longPolling || e.w.pollToken !== e.token) return;
        this.stopLongPoll(e.w);
        return this.poll(e.w);
      case 'finish':
        return this.finish(e.w, e.image);
      case 'die':
        return this.die(e.w);
      case 'interrupt':
        return this.interrupt(e.w);
      case 'requeue':
        for (const image of e.images) {
          if (this.doneAt[image] !== undefined) continue;
          // A hand-back on an interruption notice costs no attempt.
          if (!e.sameAttempt) this.attempts[image]++;
          if (this.attempts[image] > this.c.maxAttempts) {
            // The monitor controller's give-up: an error result, still an answer.
            this.failed.add(image);
            this.answer(image);
          } else this.visible.push(image);
        }
        return this.feedLongPollers();
    }
  }

  private get waiting(): number {
    return this.visible.length - this.visibleHead;
  }

  /** One scaling tick: the fleet as DescribeInstances shows it (with its lag), the queue, the planner's decision. */
  private tick(): void {
    const nowMs = this.now * 1000;
    const listed: WorkerInstance[] = this.workers
      .filter((w) => w.state !== 'gone' && w.launchedAt <= this.now - this.c.describeLagSeconds)
      .map((w) => ({
        id: w.id,
        state: w.state === 'running' ? 'running' : 'pending',
        launchedAt: new Date(w.launchedAt * 1000),
        busy: w.queued.length + w.working.size > 0,
      }));
    const plan = this.planner.plan(nowMs, { visible: this.waiting, inFlight: 0, delayed: 0 }, listed);
    if (plan.decision.action === 'launch') {
      const launched = Array.from({ length: plan.decision.count }, () => this.launch());
      this.planner.launched(nowMs, plan.decision.count, launched);
      this.launches.push({ t: r2(this.now), count: launched.length, reason: plan.decision.reason });
    }
    const running = this.workers.filter((w) => w.state === 'running').length;
    this.samples.push({ t: r2(this.now), instances: this.alive, running, backlog: this.waiting, done: this.done });
    this.events.push(this.now + this.c.tickSeconds, { k: 'tick' });
  }

  private launch(): WorkerInstance {
    const w: SimWorker = {
      id: `i-${String(this.workers.length + 1).padStart(5, '0')}`,
      launchedAt: this.now,
      state: 'pending',
      queued: [],
      working: new Set(),
      lastWork: this.now,
      longPolling: false,
      pollToken: 0,
      blocked: false,
      pricePerHour: this.c.pricePerHour,
    };
    const spot = this.c.spot;
    // Only a Spot configuration draws from the generator here, so on-demand runs stay as they were.
    if (spot && this.rng() >= spot.fallbackShare) {
      w.pricePerHour = spot.pricePerHour;
      this.spotLaunches++;
      if (spot.interruptionsPerHour > 0) {
        const afterSeconds = (-Math.log(1 - this.rng()) / spot.interruptionsPerHour) * 3600;
        this.events.push(this.now + afterSeconds, { k: 'interrupt', w });
      }
    }
    this.workers.push(w);
    this.alive++;
    this.peakAlive = Math.max(this.peakAlive, this.alive);
    const boot = this.c.bootSeconds * (1 + this.c.bootJitter * (2 * this.rng() - 1));
    this.events.push(this.now + Math.max(0, boot), { k: 'ready', w });
    return { id: w.id, state: 'pending', launchedAt: new Date(this.now * 1000), busy: false };
  }

  private held(w: SimWorker): number {
    return w.queued.length + w.working.size;
  }

  /** The worker loop's receive: as worker-loop.ts does it. */
  private poll(w: SimWorker): void {
    if (w.state !== 'running' || w.longPolling) return;
    if (!this.mayReceive(w)) {
      w.blocked = true;
      return;
    }
    const idleFor = this.now - w.lastWork;
    if (this.held(w) === 0 && idleFor >= this.c.idleSeconds) return this.end(w);
    if (this.waiting > 0) return this.receive(w);
    // Nothing there: a long poll, never outlasting the idle time.
    const idleLeft = this.held(w) > 0 ? this.c.idleSeconds : this.c.idleSeconds - idleFor;
    const wait = Math.min(this.c.pollWaitSeconds, Math.ceil(idleLeft));
    w.longPolling = true;
    w.pollToken++;
    this.longPollers.push(w);
    this.events.push(this.now + Math.max(wait, 0.2), { k: 'poll-ends', w, token: w.pollToken });
  }

  /** The worker's ReceiveGate: room for a share of its budget, or room for one for the gather time. */
  private mayReceive(w: SimWorker): boolean {
    const room = this.c.prefetch - this.held(w);
    if (room >= receiveShare(this.c.prefetch)) return true;
    if (room < 1) {
      w.gatheredAt = undefined;
      return false;
    }
    if (w.gatheredAt === undefined) {
      w.gatheredAt = this.now + RECEIVE_GATHER_MS / 1000;
      this.events.push(w.gatheredAt, { k: 'gathered', w });
    }
    return this.now >= w.gatheredAt;
  }

  private receive(w: SimWorker): void {
    this.receives++;
    w.gatheredAt = undefined;
    const n = Math.min(SQS_BATCH_LIMIT, this.c.prefetch - this.held(w), this.waiting);
    for (let i = 0; i < n; i++) w.queued.push(this.visible[this.visibleHead++]);
    if (this.visibleHead > 4096) {
      this.visible.splice(0, this.visibleHead);
      this.visibleHead = 0;
    }
    w.lastWork = this.now;
    this.startWork(w);
    this.events.push(this.now + this.c.receiveSeconds, { k: 'poll', w });
  }

  private stopLongPoll(w: SimWorker): void {
    w.longPolling = false;
    const i = this.longPollers.indexOf(w);
    if (i >= 0) this.longPollers.splice(i, 1);
  }

  /** A long poll answers as soon as messages are there: the longest-waiting poller first. */
  private feedLongPollers(): void {
    while (this.waiting > 0 && this.longPollers.length > 0) {
      const w = this.longPollers[0];
      this.stopLongPoll(w);
      this.receive(w);
    }
  }

  private startWork(w: SimWorker): void {
    while (w.working.size < this.c.concurrency && w.queued.length > 0) {
      const image = w.queued.shift() as number;
      w.working.add(image);
      if (this.c.failureRate > 0 && this.rng() < this.c.failureRate) {
        this.events.push(this.now + this.rng() * this.c.imageSeconds, { k: 'die', w });
      } else this.events.push(this.now + this.c.imageSeconds, { k: 'finish', w, image });
    }
  }

  private finish(w: SimWorker, image: number): void {
    if (w.state === 'gone') return;
    w.working.delete(image);
    this.answer(image);
    w.lastWork = this.now;
    this.startWork(w);
    if (w.blocked) {
      w.blocked = false;
      this.poll(w);
    }
  }

  private answer(image: number): void {
    if (this.doneAt[image] !== undefined) return;
    this.doneAt[image] = this.now;
    this.done++;
  }

  private die(w: SimWorker): void {
    if (w.state === 'gone') return;
    const held = [...w.working, ...w.queued];
    this.end(w);
    if (held.length) this.events.push(this.now + this.c.requeueSeconds, { k: 'requeue', images: held });
  }

  /** EC2's notice: the worker hands back everything it holds at once and ends. */
  private interrupt(w: SimWorker): void {
    if (w.state === 'gone') return;
    this.interruptions++;
    const held = [...w.working, ...w.queued];
    this.end(w);
    const back = this.c.spot?.handBackSeconds ?? 1;
    if (held.length) this.events.push(this.now + back, { k: 'requeue', images: held, sameAttempt: true });
  }

  private end(w: SimWorker): void {
    this.stopLongPoll(w);
    w.state = 'gone';
    w.endedAt = this.now;
    w.queued = [];
    w.working.clear();
    this.alive--;
  }

  private result(): SimulationResult {
    // The state the run ended in (all done, none alive), so a chart ends where the run did.
    const last = this.samples.at(-1);
    if (!last || last.t < r2(this.now)) {
      const running = this.workers.filter((w) => w.state === 'running').length;
      this.samples.push({ t: r2(this.now), instances: this.alive, running, backlog: this.waiting, done: this.done });
    }
    const answered = this.doneAt.flatMap((d, i) => (d === undefined ? [] : [d - this.arrivedAt[i]])).sort((a, b) => a - b);
    const lastDone = Math.max(0, ...this.doneAt.map((d) => d ?? 0));
    const instanceSeconds = this.workers.reduce((s, w) => s + ((w.endedAt ?? this.now) - w.launchedAt), 0);
    const costUsd = this.workers.reduce((s, w) => s + (((w.endedAt ?? this.now) - w.launchedAt) / 3600) * w.pricePerHour, 0);
    const lastEnd = Math.max(lastDone, ...this.workers.map((w) => w.endedAt ?? this.now));
    return {
      policy: this.c.policy,
      figures: {
        images: this.arrivedAt.length,
        completedSeconds: r2(lastDone),
        latency: { p50: r2(percentile(answered, 50)), p95: r2(percentile(answered, 95)), p99: r2(percentile(answered, 99)) },
        peakInstances: Math.max(this.peakAlive, ...this.samples.map((s) => s.instances)),
        instanceSeconds: r2(instanceSeconds),
        costUsd: Math.round(costUsd * 10_000) / 10_000,
        costPer1000Images: this.done === 0 ? 0 : Math.round((costUsd / this.done) * 1000 * 1_000_000) / 1_000_000,
        backToZeroSeconds: r2(lastEnd - lastDone),
      },
      samples: this.samples,
      peakAlive: this.peakAlive,
      errors: this.failed.size,
      unfinished: this.arrivedAt.length - this.done,
      launches: this.launches,
      interruptions: this.interruptions,
      receives: this.receives,
      spotLaunches: this.spotLaunches,
      onDemandLaunches: this.workers.length - this.spotLaunches,
    };
  }
}

export function simulate(config: SimulationConfig): SimulationResult {
  return new Simulation(config).run();
}
