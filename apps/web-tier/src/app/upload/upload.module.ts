import { Module } from '@nestjs/common';
import { AwsModule } from '@app/aws';
import { BatchesModule } from '../batches/batches.module';
import { CommonModule } from '../common/common.module';
import { WebMetricsModule } from '../ops/metrics.module';
import { BatchUploadController } from './batch-upload.controller';
import { ClassicController } from './classic.controller';
import { ClassicService } from './classic.service';
import { InputCleanup } from './input-cleanup';
import { LaunchPublisher } from './launch-publisher';
import { UploadAdmission } from './upload-admission';
import { UploadController } from './upload.controller';
import { UploadService } from './upload.service';
import { UploadMemory } from './upload-memory';
import { TenantImagesInFlight } from './tenant-images-in-flight';

/** Uploads: the classic one-file POST /, POST /api/images, and images added to an open batch. */
@Module({
  imports: [AwsModule, BatchesModule, CommonModule, WebMetricsModule],
  controllers: [ClassicController, UploadController, BatchUploadController],
  providers: [UploadService, ClassicService, UploadAdmission, LaunchPublisher, InputCleanup, UploadMemory, TenantImagesInFlight],
  exports: [UploadMemory],
})
export class UploadModule {}
