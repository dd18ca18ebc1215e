import { Module } from '@nestjs/common';
import { AwsModule } from '@app/aws';
import { WebMetricsModule } from '../ops/metrics.module';
import { ApiKeys } from './api-keys';
import { ClientLimits } from './client-limits';
import { IdempotencyStore } from './idempotency';

/**
 * What every feature shares: the API keys with their tenants, `Idempotency-Key` records, and the caps on
 * what one client may hold open (uploads, event streams and classic requests).
 */
@Module({
  imports: [AwsModule, WebMetricsModule],
  providers: [ApiKeys, IdempotencyStore, ClientLimits],
  exports: [ApiKeys, IdempotencyStore, ClientLimits],
})
export class CommonModule {}
