import { Module } from '@nestjs/common';
import { AwsModule } from '@app/aws';
import { BatchesModule } from '../batches/batches.module';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';
import { MetricsController } from './metrics.controller';
import { WebMetricsModule } from './metrics.module';

/** /health and /metrics. */
@Module({ imports: [AwsModule, BatchesModule, WebMetricsModule], controllers: [HealthController, MetricsController], providers: [HealthService] })
export class OpsModule {}
