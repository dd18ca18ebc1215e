import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { RATE_LIMITED, UNAUTHORIZED } from '../common/api-docs';
import { StatusDto } from './status.dto';
import { StatusService } from './status.service';

@ApiTags('status')
@ApiSecurity('api-key')
@Controller('api/status')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  @Get()
  @ApiOperation({ operationId: 'getStatus', summary: 'Workers (running, free, pending) and queue depths, for the fleet panel' })
  @ApiResponse({ status: 200, type: StatusDto })
  @ApiResponse(UNAUTHORIZED)
  @ApiResponse(RATE_LIMITED)
  get(): Promise<StatusDto> {
    return this.status.status();
  }
}
