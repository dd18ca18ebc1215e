import { Controller, Get, Header } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { RATE_LIMITED, UNAUTHORIZED } from '../common/api-docs';
import { MetricsService } from './metrics.service';

/** Prometheus metrics; needs an API key when keys are configured (they tell a lot about the traffic). */
@ApiTags('operations')
@ApiSecurity('api-key')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ operationId: 'getMetrics', summary: 'Prometheus metrics: uploads, bytes, results, end-to-end latency' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiResponse(UNAUTHORIZED)
  @ApiResponse(RATE_LIMITED)
  get(): Promise<string> {
    return this.metrics.text();
  }
}
