import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AwsResources, type Queue } from '@app/aws';
import { AppConfig } from '@app/config';
import { MessageParseError, monitorMessage, parseLaunchMessage, parseMonitorMessage, serialize } from '@app/contracts';
import { MetricsRegistry } from '@app/platform';
import { ResultPublisher } from '@app/results';
import { GiveUp, MONITOR_PRODUCER, type ImageRef } from './give-up';
import { MALFORMED, PollLoop } from './poll-loop';

/**
 * done: its result had been announced; announced: found unannounced and announced now; gave-up: an error result is its
 * answer; check-requeued: a check that kept failing went back to the monitor queue (the image still has attempts).
 */
export type DeadLetterOutcome = 'done' | 'announced' | 'gave-up' | 'check-requeued' | typeof MALFORMED;

/** A check re-enqueued from the dead-letter queue waits this long first, seconds: whatever failed it five times may still be failing. */
export const REQUEUED_CHECK_DELAY_SECONDS = 60;

/**
 * The last line for an image whose message SQS gave up on, so that it still
 * gets exactly one answer:
 *
 * - the launch dead-letter queue: workers received the image again and again
 *   and died before even announcing it (the deadline checks never saw it);
 * - the monitor dead-letter queue: the checks of an image in progress failed
 *   again and again (or the check could never be read).
 *
 * A result already written is announced (should its writer have died before
 * announcing it). A dead-lettered check of an image that still has attempts
 * goes back to the monitor queue, delayed: failing checks are an outage of S3,
 * SQS or EC2 far more often than anything about the image, and an error result
 * would beat the right answer that arrives when the outage ends. Otherwise an
 * error result is published — the first result written wins, so a late
 * worker's result cannot contradict it.
 */
@Injectable()
export class DeadLetterWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadLetterWatcher.name);
  private readonly loops: PollLoop[] = [];
  private readonly publisher: ResultPublisher;

  constructor(
    private readonly aws: AwsResources,
    private readonly giveUp: GiveUp,
    registry: MetricsRegistry,
    private readonly config: AppConfig,
  ) {
    this.publisher = new ResultPublisher(aws.outputBucket, aws.resultAnnouncements);
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
    let ref: ImageRef;
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
    if (kind === 'monitor' && ref.attempt < this.config.fleet.maxAttempts) {
      const check = parseMonitorMessage(body);
      const again = monitorMessage({ ...check, checkFailures: (check.checkFailures ?? 0) + 1 });
      await this.aws.monitorQueue.send(serialize(again), REQUEUED_CHECK_DELAY_SECONDS);
      this.logger.warn({ msg: `dead-lettered check sent back to the monitor queue (in ${REQUEUED_CHECK_DELAY_SECONDS} s), not answered with an error`, ...ctx });
      return 'check-requeued';
    }
    const reason =
      kind === 'launch'
        ? `no worker could take the image: its launch message was dead-lettered (attempt ${ref.attempt})`
        : `the checks of attempt ${ref.attempt} kept failing: its monitor message was dead-lettered`;
    const answer = await this.giveUp.send(ref, reason);
    if (answer.producedBy !== MONITOR_PRODUCER) {
      this.logger.warn({ msg: 'a result arrived as the dead-lettered image was given up: that result stands', ...ctx });
      return 'announced';
    }
    this.logger.warn({ msg: `dead-lettered ${kind} message: error result sent`, ...ctx });
    return 'gave-up';
  }
}
