import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { MetricsService } from '../ops/metrics.service';
import { mapLimit } from './map-limit';
import { ResultsService } from './results.service';
import { ResultsStore } from './results.store';

/** Images looked up per round (one round per period), and at once: a bounded load on S3 whatever the backlog. */
const PER_ROUND = 100;
const CONCURRENCY = 8;

/**
 * Finds results that were written to the output bucket but never announced
 * on the output queue (a worker killed between the two writes, a lost
 * message): every RESULT_RECHECK_SECONDS, images queued here for longer than
 * that are looked up in the bucket, oldest first, each at most once per
 * period. A result found is applied like one from the queue, so a held
 * classic request, an open event stream and REST all get it. An
 * announcement arriving later is a harmless duplicate.
 */
@Injectable()
export class ResultRecheck implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ResultRecheck.name);
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private readonly periodMs: number;

  constructor(
    private readonly store: ResultsStore,
    private readonly results: ResultsService,
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    this.periodMs = config.web.resultRecheckSeconds * 1000;
  }

  onApplicationBootstrap(): void {
    if (this.periodMs === 0) return;
    this.timer = setInterval(() => {
      this.round ??= this.check().then(
        () => undefined,
        () => undefined,
      ).finally(() => (this.round = undefined));
    }, this.periodMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.round;
  }

  /** One round; returns the number of results found. */
  async check(): Promise<number> {
    const stale = this.store.takeStaleQueued(Date.now() - this.periodMs, PER_ROUND);
    let found = 0;
    await mapLimit(stale, CONCURRENCY, async (r) => {
      try {
        const stored = await this.results.readStoredResult(r.imageId);
        if (!stored) return;
        const { duplicate } = this.store.applyResult(stored);
        if (duplicate) return;
        found++;
        this.metrics.results.inc({ status: 'from_bucket' });
        this.logger.warn(`image ${r.imageId}: result found in the output bucket but never announced; applied`);
      } catch (err) {
        this.logger.debug(`recheck of ${r.imageId} failed: ${(err as Error).message}`);
      }
    });
    return found;
  }
}
