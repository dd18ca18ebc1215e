import { Injectable, Logger } from '@nestjs/common';
import { AwsResources } from '@app/aws';
import { AppConfig } from '@app/config';
import { OutputConsumer } from '../results/output-consumer';

const PROBE_TIMEOUT_MS = 3_000;
/** The output queue's consumer is unhealthy when its receives fail, or it makes no progress, for this long. */
const CONSUMER_UNHEALTHY_AFTER_MS = 60_000;

export type ProbeState = 'up' | 'down';

/** What /health says: generic on purpose (no ARNs, no SDK error text: the endpoint is public). */
export interface HealthSnapshot {
  status: 'ok' | 'error';
  /** results: this tier's consumer of the output queue (in-process, checked on every hit). */
  checks: { s3: ProbeState; sqs: ProbeState; results: ProbeState };
  checkedAt: string;
}

/**
 * The web tier's health, checked at most every HEALTH_CACHE_SECONDS: a hit
 * on /health answers from the last check and, when that is stale, starts one
 * new check in the background (never more than one at a time). So a flood of
 * /health requests makes no AWS calls of its own. Failure details go to the
 * log, not to the caller.
 */
@Injectable()
export class HealthService {
  private readonly logger = new Logger(HealthService.name);
  private readonly maxAgeMs: number;
  private last?: { at: number; snapshot: HealthSnapshot };
  private running?: Promise<HealthSnapshot>;

  constructor(
    private readonly aws: AwsResources,
    private readonly output: OutputConsumer,
    config: AppConfig,
  ) {
    this.maxAgeMs = config.web.healthCacheSeconds * 1000;
  }

  async current(): Promise<HealthSnapshot> {
    let aws: HealthSnapshot;
    if (!this.last) {
      aws = await this.refresh();
    } else {
      if (Date.now() - this.last.at >= this.maxAgeMs) void this.refresh();
      aws = this.last.snapshot;
    }
    // A tier whose output consumer is stuck answers nobody, however well S3 and SQS do.
    const consumer = this.output.consumer.health(CONSUMER_UNHEALTHY_AFTER_MS);
    if (!consumer.healthy) this.logger.warn(`health: ${consumer.reason}`);
    const results: ProbeState = consumer.healthy ? 'up' : 'down';
    return { ...aws, status: aws.status === 'ok' && results === 'up' ? 'ok' : 'error', checks: { ...aws.checks, results } };
  }

  private refresh(): Promise<HealthSnapshot> {
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  private async check(): Promise<HealthSnapshot> {
    const [s3, sqs] = await Promise.all([
      // A listing of an unused prefix: cheap, and fails when the bucket is missing.
      this.probe('s3', () => Promise.all([this.aws.inputBucket.list('health-probe/'), this.aws.outputBucket.list('health-probe/')])),
      this.probe('sqs', () => Promise.all([this.aws.launchQueue.depth(), this.aws.outputQueue.depth()])),
    ]);
    const snapshot: HealthSnapshot = { status: s3 === 'up' && sqs === 'up' ? 'ok' : 'error', checks: { s3, sqs, results: 'up' }, checkedAt: new Date().toISOString() };
    if (this.last?.snapshot.status !== snapshot.status) this.logger.log(`health is now ${snapshot.status} (s3 ${s3}, sqs ${sqs})`);
    this.last = { at: Date.now(), snapshot };
    return snapshot;
  }

  private async probe(name: string, fn: () => Promise<unknown>): Promise<ProbeState> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
        }),
      ]);
      return 'up';
    } catch (err) {
      this.logger.warn(`health probe ${name} failed: ${(err as Error).message}`);
      return 'down';
    } finally {
      clearTimeout(timer);
    }
  }
}
