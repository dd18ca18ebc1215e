import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { BatchIndex } from '../batches/batch-index';
import { Tenant } from '../common/api-key.guard';
import { UuidPipe } from '../common/uuid.pipe';
import { ErrorDto } from '../common/error.dto';
import { ImageResultDto } from './dto';
import { imageNotFound, ResultsService } from './results.service';

@ApiTags('results')
@ApiSecurity('api-key')
@Controller('api')
export class ResultsController {
  constructor(
    private readonly results: ResultsService,
    private readonly index: BatchIndex,
  ) {}

  @Get('images/:imageId')
  @ApiOperation({ operationId: 'getImage', summary: "One image's status and result" })
  @ApiParam({ name: 'imageId', format: 'uuid' })
  @ApiResponse({ status: 200, type: ImageResultDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'Not a UUID' })
  @ApiResponse({ status: 401, type: ErrorDto, description: 'API key missing or wrong (when keys are configured)' })
  @ApiResponse({ status: 404, type: ErrorDto, description: "No such image (or another tenant's)" })
  @ApiResponse({ status: 429, type: ErrorDto, description: 'Rate limit' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'Storage unavailable (Retry-After)' })
  async image(@Param('imageId', UuidPipe) imageId: string, @Tenant() tenant: string): Promise<ImageResultDto> {
    const dto = await this.results.image(imageId);
    // The image's batch must be the caller's: another tenant's image is as unknown as a missing one.
    if (!(await this.index.meta(tenant, dto.batchId))) throw imageNotFound(imageId);
    return dto;
  }
}
