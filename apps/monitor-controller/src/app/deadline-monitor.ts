import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AwsAdapterError, AwsResources, type ReceivedMessage } from '@app/aws';
import { AppConfig } from '@app/config';
import { MessageParseError, monitorMessage, parseMonitorMessage, serialize, type MonitorMessage } from '@app/contracts';
import { Fleet } from '@app/fleet';
import { MetricsRegistry } from '@app/platform';
import { AttemptLedger } from '@app/results';
import { GiveUp, MONITOR_PRODUCER } from './give-up';
import { NextAttempt } from './next-attempt';
import { PollLoop } from './poll-loop';
import { finishedBySession, listed, lostToRestart } from './worker-session';
import { WorkerWatch, type WorkerView } from './worker-watch';

export type MonitorOutcome =
  | 'done'
  | 'requeued'
  | 'gave-up'
  | 'superseded'
  | 'handed-back'
  /** Worker alive, deadline not reached: checked again later. */
  | 'watching'
  /** Past the deadline, but the worker progresses: checked again later, up to the hard limit. */
  | 'extended'
  /** The check failed on a transient error (S3, SQS or EC2 unavailable): sent again after a back-off. */
  | 'deferred'
  | 'malformed';

/** The longest wait before a check that failed on a transient error is tried again, seconds (SQS's delay limit is 900). */
export const MAX_CHECK_BACKOFF_SECONDS = 300;

/** An error that a later try may not meet: the service was briefly unavailable, slow or throttling. */
export function isTransient(err: unknown): boolean {
  return err instanceof AwsAdapterError ? err.retryable : (err as { retryable?: unknown })?.retryable === true;
}

/** Why an image is retried, for the log line and the give-up reason. */
interface RetryCause {
  reason: string;
  /** The worker is alive but must not keep the image: end it first. */
  terminate: boolean;
}

/**
 * Checks each image in progress every LIVENESS_CHECK_SECONDS (the worker sends
 * the first check delayed, each check sends the next) until it has an answer:
 *
 * - a result is there: done (announced again, unless the session that took the
 *   image has surely announced it: see finishedBySession);
 * - a later attempt was queued: this check is stale;
 * - the worker handed the image back: the new attempt has its own checks;
 * - the worker is gone (Fleet.status), or gave the image up, or was restarted
 *   (a newer session on the same instance does not hold it): retry now;
 * - alive, past the deadline and no progress in its heartbeat (hung), or past
 *   the hard limit: terminate it, then retry;
 * - otherwise: check again later.
 *
 * A retry re-queues attempt + 1 and then records it (send before you record:
 * a crash in between leaves a duplicate launch, never none), or after
 * MAX_ATTEMPTS publishes an error result (the first result written wins).
 * Every step is idempotent, so a redelivered or duplicate check does no harm.
 */
@Injectable()
export class DeadlineMonitor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadlineMonitor.name);
  private readonly loop: PollLoop;
  private readonly ledger: AttemptLedger;
  private readonly watch: WorkerWatch;
  private readonly nextAttempt: NextAttempt;

  constructor(
    private readonly config: AppConfig,
    private readonly aws: AwsResources,
    private readonly fleet: Fleet,
    private readonly giveUp: GiveUp,
    registry: MetricsRegistry,
  ) {
    const outcomes = new Counter({
      name: 'ics_monitor_outcomes_total',
      help: 'Monitor messages by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.ledger = new AttemptLedger(aws.outputBucket);
    this.nextAttempt = new NextAttempt(aws, giveUp, config.fleet.maxAttempts);
    this.watch = new WorkerWatch(fleet, aws.outputBucket);
    this.loop = new PollLoop(aws.monitorQueue, (body) => this.handle(body), this.logger, (outcome) => outcomes.inc({ outcome }), {
      visibilityTimeoutSeconds: config.scaling.monitorVisibilitySeconds,
      handlerTimeoutSeconds: config.consumerHandlerTimeoutSeconds,
    });
  }

  onApplicationBootstrap(): void {
    this.logger.log(
      `watching ${this.aws.monitorQueue.url} (MAX_ATTEMPTS=${this.config.fleet.maxAttempts}, LIVENESS_CHECK_SECONDS=${this.config.worker.livenessCheckSeconds})`,
    );
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Handles one received message (see PollLoop.process). */
  process(m: ReceivedMessage): Promise<MonitorOutcome | undefined> {
    return this.loop.process(m) as Promise<MonitorOutcome | undefined>;
  }

  async handle(body: string): Promise<MonitorOutcome> {
    let msg: MonitorMessage;
    try {
      msg = parseMonitorMessage(body);
    } catch (err) {
      if (!(err instanceof MessageParseError)) throw err;
      this.logger.error({ msg: `dropping malformed monitor message: ${err.message}`, body: body.slice(0, 500) });
      return 'malformed';
    }
    try {
      return await this.check(msg, body);
    } catch (err) {
      if (!isTransient(err)) throw err; // left for redelivery, and the dead-letter queue after that
      return this.defer(msg, err as Error);
    }
  }

  /**
   * A check that failed on a transient error is sent again with a back-off
   * (doubling from LIVENESS_CHECK_SECONDS up to MAX_CHECK_BACKOFF_SECONDS), as a
   * new message: it never reaches the dead-letter queue, whose watcher would
   * answer with an error, and never counts toward a give-up. If even that send
   * fails, the error stands and SQS delivers this check again.
   */
  private async defer(msg: MonitorMessage, err: Error): Promise<MonitorOutcome> {
    const failures = (msg.checkFailures ?? 0) + 1;
    const base = this.config.worker.livenessCheckSeconds * 2 ** Math.min(failures - 1, 10);
    const delay = Math.max(1, Math.round(Math.min(MAX_CHECK_BACKOFF_SECONDS, base) * (0.5 + Math.random() / 2)));
    await this.aws.monitorQueue.send(serialize(monitorMessage({ ...msg, checkFailures: failures })), delay);
    this.logger.warn({
      msg: `check failed on a transient error, tried again in ${delay} s: ${err.message}`,
      imageId: msg.imageId,
      attempt: msg.attempt,
      instanceId: msg.instanceId,
      checkFailures: failures,
    });
    return 'deferred';
  }

  private async check(msg: MonitorMessage, body: string): Promise<MonitorOutcome> {
    const ctx = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt, instanceId: msg.instanceId };

    const found = await this.giveUp.publisher.announceFound(msg.imageId, async () => finishedBySession(msg, await this.watch.view(msg.instanceId)));
    if (found !== 'missing') {
      if (found === 'unreadable') this.logger.error({ msg: 'the stored result is not a valid result: left as it is', ...ctx });
      if (found === 'announced-now') this.logger.warn({ msg: 'result found unannounced (its writer died before announcing it): announced', ...ctx });
      return 'done';
    }
    const latest = await this.ledger.latest(msg.imageId);
    if (latest > msg.attempt) {
      this.logger.log({ msg: `attempt ${msg.attempt} superseded by attempt ${latest}: ignored`, ...ctx });
      return 'superseded';
    }

    const worker = await this.watch.view(msg.instanceId);
    if (listed(worker.heartbeat?.handedBack, msg)) {
      this.logger.log({ msg: 'handed back by its worker (a passing failure): the new take is checked on its own', ...ctx });
      return 'handed-back';
    }
    const cause = this.retryCause(msg, worker);
    if (cause) return this.retry(msg, cause);

    const now = Date.now();
    const untilHard = Math.ceil((this.hardDeadline(msg) - now) / 1000);
    // A check that went through starts its transient-failure count afresh.
    const next = msg.checkFailures ? serialize(monitorMessage({ ...msg, checkFailures: undefined })) : body;
    await this.aws.monitorQueue.send(next, Math.max(1, Math.min(this.config.worker.livenessCheckSeconds, untilHard)));
    if (now < Date.parse(msg.deadline)) return 'watching';
    this.logger.log({ msg: 'past the deadline, but the worker progresses: deadline extended', ...ctx });
    return 'extended';
  }

  private hardDeadline(msg: MonitorMessage): number {
    return Date.parse(msg.hardDeadline ?? msg.deadline);
  }

  private retryCause(msg: MonitorMessage, worker: WorkerView): RetryCause | undefined {
    if (worker.liveness === 'gone') return { reason: `worker ${msg.instanceId} is gone`, terminate: false };
    if (listed(worker.heartbeat?.failed, msg)) return { reason: `worker ${msg.instanceId} could not finish it`, terminate: false };
    if (lostToRestart(msg, worker.heartbeat)) {
      return { reason: `worker ${msg.instanceId} was restarted (session ${worker.heartbeat?.session} does not hold it)`, terminate: false };
    }
    const now = Date.now();
    if (now >= this.hardDeadline(msg)) {
      return { reason: `no result by the hard limit ${msg.hardDeadline ?? msg.deadline}`, terminate: true };
    }
    if (now < Date.parse(msg.deadline)) return undefined;
    // Progress means some image of this worker moved on since the deadline's window began.
    const window = Date.parse(msg.deadline) - Date.parse(msg.startedAt);
    const progressAt = worker.heartbeat ? Date.parse(worker.heartbeat.progressAt) : Number.NaN;
    if (Number.isFinite(progressAt) && now - progressAt < window) return undefined;
    const since = Number.isFinite(progressAt) ? `since ${worker.heartbeat?.progressAt}` : 'ever';
    return { reason: `worker ${msg.instanceId} is hung (no progress ${since})`, terminate: true };
  }

  private async retry(msg: MonitorMessage, cause: RetryCause): Promise<MonitorOutcome> {
    const ctx = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt, instanceId: msg.instanceId, reason: cause.reason };
    // End a hung worker so it cannot hold the slot (its late work is discarded or loses to the first result).
    if (cause.terminate) await this.fleet.terminate(msg.instanceId);
    const what = cause.terminate ? `${cause.reason}: worker terminated` : cause.reason;

    const outcome = await this.nextAttempt.after(msg, cause.reason);
    if (outcome.kind === 'gave-up') {
      if (outcome.answer.producedBy === MONITOR_PRODUCER) {
        this.logger.warn({ msg: `gave up after ${msg.attempt} attempts: error result sent`, ...ctx });
      } else {
        this.logger.warn({ msg: `a result arrived as the monitor gave up: that result stands`, ...ctx });
      }
      return 'gave-up';
    }
    this.logger.warn({ msg: `${what}: image re-queued as attempt ${outcome.attempt}`, ...ctx });
    return 'requeued';
  }
}
