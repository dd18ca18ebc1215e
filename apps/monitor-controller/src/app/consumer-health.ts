import { Controller, Get, Injectable } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { AwsResources, type Queue } from '@app/aws';
import { AppConfig } from '@app/config';

/**
 * Up while every consumer of a queue runs and its receives work; down when it
 * is stopped, has failed for longer than CONSUMER_UNHEALTHY_SECONDS, or made no
 * progress for that long (every handler hung) — or when nobody consumes the queue.
 */
@Injectable()
export class ConsumerHealthIndicator {
  private readonly unhealthyAfterMs: number;

  constructor(
    private readonly indicators: HealthIndicatorService,
    config: AppConfig,
  ) {
    this.unhealthyAfterMs = config.consumerUnhealthySeconds * 1000;
  }

  check(key: string, queue: Queue): HealthIndicatorResult {
    const indicator = this.indicators.check(key);
    const consumers = [...queue.consumers];
    if (consumers.length === 0) return indicator.down({ message: `nothing consumes ${queue.url}` });
    const problems = consumers.map((c) => c.health(this.unhealthyAfterMs)).filter((h) => !h.healthy);
    if (problems.length > 0) return indicator.down({ message: problems.map((p) => p.reason).join('; ') });
    return indicator.up({ consumers: consumers.length });
  }
}

/** `/health`: 200 while the monitor queue and the dead-letter queues are being consumed, else 503 with the reason. */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly consumers: ConsumerHealthIndicator,
    private readonly aws: AwsResources,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    const queues: [string, Queue | undefined][] = [
      ['monitorQueue', this.aws.monitorQueue],
      ['launchDeadLetterQueue', this.aws.launchDeadLetterQueue],
      ['monitorDeadLetterQueue', this.aws.monitorDeadLetterQueue],
    ];
    return this.health.check(queues.flatMap(([key, queue]) => (queue ? [() => this.consumers.check(key, queue)] : [])));
  }
}
