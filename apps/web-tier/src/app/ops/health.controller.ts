import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RATE_LIMITED } from '../common/api-docs';
import type { Response } from 'express';
import { Public } from '../common/api-key.guard';
import { HealthService, type HealthSnapshot } from './health.service';

/** `/health`: 200 when both buckets and the launch and output queues answered the last check, else 503. Rate-limited like the rest. */
@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get()
  @ApiOperation({ operationId: 'getHealth', summary: 'S3 and SQS reachable (200), or not (503), from a check at most HEALTH_CACHE_SECONDS old' })
  @ApiResponse({ status: 200, description: '{ status: "ok", checks: { s3: "up", sqs: "up" }, checkedAt }' })
  @ApiResponse({ status: 503, description: '{ status: "error", checks: { s3: "down", ... }, checkedAt }' })
  @ApiResponse(RATE_LIMITED)
  async check(@Res({ passthrough: true }) res: Response): Promise<HealthSnapshot> {
    const snapshot = await this.health.current();
    res.status(snapshot.status === 'ok' ? 200 : 503);
    return snapshot;
  }
}
