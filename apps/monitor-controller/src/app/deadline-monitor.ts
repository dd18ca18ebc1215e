import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AwsResources, NotFoundError, SQS_MAX_DELAY_SECONDS, type ReceivedMessage } from '@app/aws';
import { GiveUp } from './give-up';
import { PollLoop } from './poll-loop';
import { AppConfig } from '@app/config';
import {
  attemptKey,
  launchMessage,
  MessageParseError,
  parseMonitorMessage,
  resultKey,
  serialize,
  type MonitorMessage,
} from '@app/contracts';
import { Fleet } from '@app/fleet';
import { MetricsRegistry } from '@app/platform';

export type MonitorOutcome = 'done' | 'requeued' | 'gave-up' | 'superseded' | 'redelayed' | 'malformed';

/**
 * Receives each monitor message once its deadline has passed (the worker sent
 * it delayed) and makes sure the image got a result: if not, the worker is
 * terminated and the image re-queued with attempt + 1, or after MAX_ATTEMPTS an
 * error result is sent. Every step is idempotent, so a redelivered or duplicate
 * monitor message does no harm.
 */
@Injectable()
export class DeadlineMonitor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadlineMonitor.name);
  private readonly loop: PollLoop;

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
    this.loop = new PollLoop(aws.monitorQueue, (body) => this.handle(body), this.logger, (outcome) => outcomes.inc({ outcome }));
  }

  onApplicationBootstrap(): void {
    this.logger.log(`watching ${this.aws.monitorQueue.url} (MAX_ATTEMPTS=${this.config.fleet.maxAttempts})`);
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
    const ctx = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt, instanceId: msg.instanceId };

    // SQS delays stop at 15 minutes: a longer deadline is reached in steps.
    const remaining = Math.ceil((Date.parse(msg.deadline) - Date.now()) / 1000);
    if (remaining > 0) {
      await this.aws.monitorQueue.send(body, Math.min(remaining, SQS_MAX_DELAY_SECONDS));
      this.logger.debug({ msg: `deadline in ${remaining} s: delayed again`, ...ctx });
      return 'redelayed';
    }

    if (await this.aws.outputBucket.exists(resultKey(msg.imageId))) {
      this.logger.debug({ msg: 'result present', ...ctx });
      return 'done';
    }
    const latest = await this.latestAttempt(msg.imageId);
    if (latest > msg.attempt) {
      this.logger.log({ msg: `attempt ${msg.attempt} superseded by attempt ${latest}: ignored`, ...ctx });
      return 'superseded';
    }

    // The worker missed its deadline: it is dead, hung or far too slow. End it so it cannot hold the slot.
    await this.fleet.terminate(msg.instanceId);

    if (msg.attempt >= this.config.fleet.maxAttempts) {
      await this.giveUp.send(msg, `no result after ${msg.attempt} attempts (last worker: ${msg.instanceId}, deadline ${msg.deadline})`);
      this.logger.warn({ msg: `gave up after ${msg.attempt} attempts: error result sent`, ...ctx });
      return 'gave-up';
    }

    const next = msg.attempt + 1;
    // Record the attempt before queueing it, so a duplicate of this message is seen as superseded.
    await this.aws.outputBucket.put(attemptKey(msg.imageId), JSON.stringify({ attempt: next, at: new Date().toISOString() }), {
      contentType: 'application/json',
    });
    await this.aws.launchQueue.send(
      serialize(
        launchMessage({
          batchId: msg.batchId,
          imageId: msg.imageId,
          fileName: msg.fileName,
          inputKey: msg.inputKey,
          attempt: next,
          enqueuedAt: new Date().toISOString(),
        }),
      ),
    );
    this.logger.warn({ msg: `no result by the deadline: worker terminated, image re-queued as attempt ${next}`, ...ctx });
    return 'requeued';
  }

  private async latestAttempt(imageId: string): Promise<number> {
    try {
      const record = JSON.parse((await this.aws.outputBucket.getBuffer(attemptKey(imageId))).toString('utf8')) as { attempt?: unknown };
      return typeof record.attempt === 'number' ? record.attempt : 0;
    } catch (err) {
      if (err instanceof NotFoundError) return 0;
      throw err;
    }
  }
}
