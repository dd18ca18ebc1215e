import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AwsResources, type Queue } from '@app/aws';
import { AppConfig } from '@app/config';
import { MessageParseError, monitorMessage, parseLaunchMessage, parseMonitorMessage, serialize, type LaunchMessage, type MonitorMessage } from '@app/contracts';
import { MetricsRegistry } from '@app/platform';
import { AttemptLedger, ResultPublisher } from '@app/results';
import { GiveUp, MONITOR_PRODUCER } from './give-up';
import { NextAttempt } from './next-attempt';
import { MALFORMED, PollLoop } from './poll-loop';

/**
 * done: its result had been announced; announced: found unannounced and announced now; superseded: a later attempt
 * was already queued (it has messages of its own); check-requeued: a check that kept failing went back to the monitor
 * queue; requeued: the failed take's image went back to the launch queue as its next attempt; gave-up: its attempts
 * are spent and an error result is its answer.
 */
export type DeadLetterOutcome = 'done' | 'announced' | 'superseded' | 'check-requeued' | 'requeued' | 'gave-up' | typeof MALFORMED;

/** A check re-enqueued from the dead-letter queue waits this long first, seconds: whatever failed it five times may still be failing. */
export const REQUEUED_CHECK_DELAY_SECONDS = 60;

/** A dead-lettered launch message's next attempt waits this long first, seconds: the workers that took it may still be dying, or the queues failing. */
export const REQUEUED_LAUNCH_DELAY_SECONDS = 30;

/**
 * The last line for an image whose message SQS gave up on, so that it still
 * gets exactly one answer, and the right one:
 *
 * - the launch dead-letter queue: workers received the image again and again
 *   and vanished (or could not claim it) before even checking it in: a take
 *   that failed, never the image's fault (no worker had read it yet);
 * - the monitor dead-letter queue: the checks of an image in progress failed
 *   again and again (or the check could never be read).
 *
 * Failing receives and checks are an outage of S3, SQS, EC2 or the workers far
 * more often than anything about the image, and an error result would beat
 * the right answer that arrives when the outage ends. So a result already
 * written is announced (should its writer have died before announcing it); a
 * message of an attempt already superseded is dropped; a dead-lettered check
 * goes back to the monitor queue, delayed, until its attempt's hard limit; and
 * a failed take (a dead-lettered launch, or a check past its hard limit) goes
 * back to the launch queue as the next attempt. Only when the image's attempts
 * are spent is an error result published — the first result written wins, so
 * a late worker's result cannot contradict it.
 */
@Injectable()
export class DeadLetterWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadLetterWatcher.name);
  private readonly loops: PollLoop[] = [];
  private readonly publisher: ResultPublisher;
  private readonly ledger: AttemptLedger;
  private readonly nextAttempt: NextAttempt;

  constructor(
    private readonly aws: AwsResources,
    giveUp: GiveUp,
    registry: MetricsRegistry,
    config: AppConfig,
  ) {
    this.publisher = new ResultPublisher(aws.outputBucket, aws.resultAnnouncements);
    this.ledger = new AttemptLedger(aws.outputBucket);
    this.nextAttempt = new NextAttempt(aws, giveUp, config.fleet.maxAttempts);
    const outcomes = new Counter({
      name: 'ics_dead_letter_outcomes_total',
      help: 'Dead-lettered launch and monitor messages by queue and outcome',
      labelNames: ['queue', 'outcome'],
      registers: [registry],
    });
    const watch = (queue: Queue | undefined, kind: 'launch' | 'monitor') => {
      if (!queue) return;
      const loop = new PollLoop(queue, (body) => this.handle(body, kind), this.logger, (outcome) => outcomes.inc({ queue: kind, outcome }), {
        visibilityTimeoutSeconds: config.scaling.monitorVisibilitySeconds,
        handlerTimeoutSeconds: config.consumerHandlerTimeoutSeconds,
      });
      this.loops.push(loop);
    };
    watch(aws.launchDeadLetterQueue, 'launch');
    watch(aws.monitorDeadLetterQueue, 'monitor');
  }

  onApplicationBootstrap(): void {
    if (!this.aws.launchDeadLetterQueue) this.logger.warn('LAUNCH_DEAD_LETTER_QUEUE_URL is not set: dead-lettered launch messages get no answer');
    if (!this.aws.monitorDeadLetterQueue) this.logger.warn('MONITOR_DEAD_LETTER_QUEUE_URL is not set: dead-lettered monitor messages get no answer');
    for (const loop of this.loops) loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.loops.map((l) => l.stop()));
  }

  /** Decides one dead-lettered message of the launch or the monitor queue. */
  async handle(body: string, kind: 'launch' | 'monitor' = 'launch'): Promise<DeadLetterOutcome> {
    let ref: LaunchMessage | MonitorMessage;
    try {
      ref = kind === 'launch' ? parseLaunchMessage(body) : parseMonitorMessage(body);
    } catch (err) {
      if (!(err instanceof MessageParseError)) throw err;
      // Nothing names an image, so nothing can be answered: logged for a person, and dropped.
      this.logger.error({ msg: `dropping an unreadable dead-lettered ${kind} message: ${err.message}`, body: body.slice(0, 500) });
      return MALFORMED;
    }
    const ctx = { imageId: ref.imageId, batchId: ref.batchId, attempt: ref.attempt, queue: kind };
    const found = await this.publisher.announceFound(ref.imageId);
    if (found === 'announced-before' || found === 'unreadable') return 'done';
    if (found === 'announced-now') {
      this.logger.warn({ msg: 'dead-lettered image had a result nobody announced: announced', ...ctx });
      return 'announced';
    }
    if (await this.ledger.isSuperseded(ref.imageId, ref.attempt)) {
      this.logger.log({ msg: `dead-lettered ${kind} message of a superseded attempt: dropped`, ...ctx });
      return 'superseded';
    }
    if (kind === 'monitor' && Date.now() < hardLimit(ref as MonitorMessage)) {
      const check = ref as MonitorMessage;
      const again = monitorMessage({ ...check, checkFailures: (check.checkFailures ?? 0) + 1 });
      await this.aws.monitorQueue.send(serialize(again), REQUEUED_CHECK_DELAY_SECONDS);
      this.logger.warn({ msg: `dead-lettered check sent back to the monitor queue (in ${REQUEUED_CHECK_DELAY_SECONDS} s), not answered with an error`, ...ctx });
      return 'check-requeued';
    }
    const reason =
      kind === 'launch'
        ? `no worker could take the image: its launch message was dead-lettered (attempt ${ref.attempt})`
        : `the checks of attempt ${ref.attempt} kept failing past its hard limit: its monitor message was dead-lettered`;
    const outcome = await this.nextAttempt.after(ref, reason, REQUEUED_LAUNCH_DELAY_SECONDS);
    if (outcome.kind === 'requeued') {
      this.logger.warn({ msg: `dead-lettered ${kind} message: image re-queued as attempt ${outcome.attempt} (in ${REQUEUED_LAUNCH_DELAY_SECONDS} s), not answered with an error`, ...ctx });
      return 'requeued';
    }
    if (outcome.answer.producedBy !== MONITOR_PRODUCER) {
      this.logger.warn({ msg: 'a result arrived as the dead-lettered image was given up: that result stands', ...ctx });
      return 'announced';
    }
    this.logger.warn({ msg: `dead-lettered ${kind} message: error result sent`, ...ctx });
    return 'gave-up';
  }
}

/** Past this moment a check's attempt is over whatever its worker says (its hard limit, or its deadline when it has none). */
function hardLimit(check: MonitorMessage): number {
  return Date.parse(check.hardDeadline ?? check.deadline);
}
