import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AppConfig } from '@app/config';
import { ScalingLoop } from './scaling-loop';

export interface LaunchControllerHealth {
  status: 'ok' | 'error';
  /** Why it is not ok. */
  reason?: string;
  lastTickAt?: string;
  lastError?: { at: string; message: string };
  launchBackoff?: { reason: string; failures: number };
}

/**
 * `/health`: ok (200) while the scaling loop works: its last tick read the
 * queue and the fleet and acted, recently. A failed last tick, or none for a
 * while (a hung call), is 503 with the reason. Launches backing off after a
 * capacity or throttling error are the cloud's weather, not this app's fault:
 * shown, still 200.
 */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly loop: ScalingLoop,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: 'The scaling loop works (200), or why not (503)' })
  health(@Res({ passthrough: true }) res: Response): LaunchControllerHealth {
    const h = this.check(Date.now());
    res.status(h.status === 'ok' ? 200 : 503);
    return h;
  }

  check(now: number): LaunchControllerHealth {
    const s = this.loop.status;
    const base = { lastTickAt: s.updatedAt, lastError: s.lastError, launchBackoff: s.launchBackoff };
    if (s.lastTickOk === false) return { ...base, status: 'error', reason: `the last scaling tick failed: ${s.lastError?.message}` };
    // Ticks back off up to LAUNCH_BACKOFF_MAX_MS only after failures, so a
    // healthy loop ticks every SCALE_TICK_MS; allow for a slow tick.
    const staleMs = Math.max(30_000, 5 * this.config.scaling.tickMs);
    if (!s.updatedAt) return { ...base, status: 'error', reason: 'no scaling tick has completed yet' };
    const age = now - Date.parse(s.updatedAt);
    if (age > staleMs) return { ...base, status: 'error', reason: `no scaling tick has completed for ${Math.round(age / 1000)} s` };
    return { ...base, status: 'ok' };
  }
}
