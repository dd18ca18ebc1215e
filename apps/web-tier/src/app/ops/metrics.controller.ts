import { Controller, Get, Header } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { MetricsService } from './metrics.service';

/** Prometheus metrics; needs an API key when keys are configured (they tell a lot about the traffic). */
@ApiTags('operations')
@ApiSecurity('api-key')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics: uploads, bytes, results, end-to-end latency' })
  @ApiProduces('text/plain')
  get(): Promise<string> {
    return this.metrics.text();
  }
}
