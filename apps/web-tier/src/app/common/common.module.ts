import { Module } from '@nestjs/common';
import { AwsModule } from '@app/aws';
import { ApiKeys } from './api-keys';
import { IdempotencyStore } from './idempotency';

/** What every feature shares: the API keys with their tenants, and `Idempotency-Key` records. */
@Module({ imports: [AwsModule], providers: [ApiKeys, IdempotencyStore], exports: [ApiKeys, IdempotencyStore] })
export class CommonModule {}
