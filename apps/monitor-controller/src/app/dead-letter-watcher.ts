import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AwsResources } from '@app/aws';
import { MessageParseError, parseLaunchMessage, resultKey } from '@app/contracts';
import { MetricsRegistry } from '@app/platform';
import { GiveUp } from './give-up';
import { PollLoop } from './poll-loop';

export type DeadLetterOutcome = 'done' | 'gave-up' | 'malformed';

/**
 * A launch message lands in the dead-letter queue when workers received it
 * again and again without ever deleting it: each one died before it could even
 * announce the image (so the deadline check never saw it). Without this, such
 * an image would never get a result; with it, its uploader gets an error.
 */
@Injectable()
export class DeadLetterWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeadLetterWatcher.name);
  private readonly loop?: PollLoop;

  constructor(
    private readonly aws: AwsResources,
    private readonly giveUp: GiveUp,
    registry: MetricsRegistry,
  ) {
    const outcomes = new Counter({
      name: 'ics_dead_letter_outcomes_total',
      help: 'Dead-lettered launch messages by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    });
    if (aws.launchDeadLetterQueue) {
      this.loop = new PollLoop(aws.launchDeadLetterQueue, (body) => this.handle(body), this.logger, (o) => outcomes.inc({ outcome: o }));
    }
  }

  onApplicationBootstrap(): void {
    if (!this.loop) {
      this.logger.warn('LAUNCH_DEAD_LETTER_QUEUE_URL is not set: dead-lettered images will get no result');
      return;
    }
    this.logger.log(`watching the launch dead-letter queue ${this.aws.launchDeadLetterQueue?.url}`);
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop?.stop();
  }

  async handle(body: string): Promise<DeadLetterOutcome> {
    let msg;
    try {
      msg = parseLaunchMessage(body);
    } catch (err) {
      if (!(err instanceof MessageParseError)) throw err;
      this.logger.error({ msg: `dropping malformed dead-lettered message: ${err.message}`, body: body.slice(0, 500) });
      return 'malformed';
    }
    const ctx = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt };
    // A worker may have finished it after all (it died after writing the result).
    if (await this.aws.outputBucket.exists(resultKey(msg.imageId))) return 'done';
    await this.giveUp.send(msg, `no worker could take the image: its launch message was dead-lettered (attempt ${msg.attempt})`);
    this.logger.warn({ msg: 'dead-lettered launch message: error result sent', ...ctx });
    return 'gave-up';
  }
}
