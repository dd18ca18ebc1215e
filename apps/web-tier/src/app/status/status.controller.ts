import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { StatusDto } from '../results/dto';
import { StatusService } from './status.service';

@ApiTags('status')
@ApiSecurity('api-key')
@Controller('api/status')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  @Get()
  @ApiOperation({ summary: 'Workers (running, free, pending) and queue depths, for the fleet panel' })
  @ApiResponse({ status: 200, type: StatusDto })
  get(): Promise<StatusDto> {
    return this.status.status();
  }
}
