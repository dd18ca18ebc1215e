import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Tenant } from '../common/api-key.guard';
import { UuidPipe } from '../common/uuid.pipe';
import { ErrorDto } from '../common/error.dto';
import { ImageResultDto } from './dto';
import { ResultsService } from './results.service';

@ApiTags('results')
@ApiSecurity('api-key')
@Controller('api')
export class ResultsController {
  constructor(private readonly results: ResultsService) {}

  @Get('images/:imageId')
  @ApiOperation({
    operationId: 'getImage',
    summary: "One image's status and result",
    description: '`queued` until its result is stored, then `done` or `error`: the same answer on every web tier, whichever took the upload.',
  })
  @ApiParam({ name: 'imageId', format: 'uuid' })
  @ApiResponse({ status: 200, type: ImageResultDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID' })
  @ApiResponse({ status: 401, type: ErrorDto, description: 'API key missing or wrong (when keys are configured)' })
  @ApiResponse({ status: 404, type: ErrorDto, description: "No such image (or another tenant's)" })
  @ApiResponse({ status: 429, type: ErrorDto, description: 'Rate limit' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'Storage unavailable (Retry-After)' })
  image(@Param('imageId', UuidPipe) imageId: string, @Tenant() tenant: string): Promise<ImageResultDto> {
    return this.results.image(tenant, imageId);
  }
}
