import { Injectable, Logger } from '@nestjs/common';
import { AwsResources } from '@app/aws';
import { AppConfig } from '@app/config';

const PROBE_TIMEOUT_MS = 3_000;

export type ProbeState = 'up' | 'down';

/** What /health says: generic on purpose (no ARNs, no SDK error text: the endpoint is public). */
export interface HealthSnapshot {
  status: 'ok' | 'error';
  checks: { s3: ProbeState; sqs: ProbeState };
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
    config: AppConfig,
  ) {
    this.maxAgeMs = config.web.healthCacheSeconds * 1000;
  }

  async current(): Promise<HealthSnapshot> {
    if (!this.last) return this.refresh();
    if (Date.now() - this.last.at >= this.maxAgeMs) void this.refresh();
    return this.last.snapshot;
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
    const snapshot: HealthSnapshot = { status: s3 === 'up' && sqs === 'up' ? 'ok' : 'error', checks: { s3, sqs }, checkedAt: new Date().toISOString() };
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
