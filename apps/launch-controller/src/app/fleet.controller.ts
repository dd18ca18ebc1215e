import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ScalingLoop, type FleetStatus } from './scaling-loop';

@ApiTags('fleet')
@Controller('api/fleet')
export class FleetController {
  constructor(private readonly loop: ScalingLoop) {}

  /** Workers (running, free, pending), the launch backlog and the last scaling decision. */
  @Get()
  @ApiOkResponse({ description: 'The fleet as of the last scaling tick' })
  status(): FleetStatus & { running: number; free: number; pending: number; busy: number } {
    const s = this.loop.status;
    return { running: s.workers.running, free: s.workers.free, pending: s.workers.pending, busy: s.workers.busy, ...s };
  }
}
