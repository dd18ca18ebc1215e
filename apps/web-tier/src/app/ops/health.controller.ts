import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { AwsResources } from '@app/aws';
import { Public } from '../common/api-key.guard';

const PROBE_TIMEOUT_MS = 3_000;

/** `/health`: up when both buckets and the launch and output queues answer. */
@ApiTags('operations')
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly aws: AwsResources,
  ) {}

  @Get()
  @HealthCheck()
  @ApiOperation({ summary: 'S3 and SQS reachable (200), or not (503)' })
  check() {
    return this.health.check([
      () =>
        this.probe('s3', async () => {
          // A listing of an unused prefix: cheap, and fails when the bucket is missing.
          await Promise.all([this.aws.inputBucket.list('health-probe/'), this.aws.outputBucket.list('health-probe/')]);
        }),
      () => this.probe('sqs', async () => void (await Promise.all([this.aws.launchQueue.depth(), this.aws.outputQueue.depth()]))),
    ]);
  }

  private async probe(key: string, fn: () => Promise<void>): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    const started = Date.now();
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS).unref()),
      ]);
      return indicator.up({ ms: Date.now() - started });
    } catch (err) {
      return indicator.down({ message: (err as Error).message });
    }
  }
}
