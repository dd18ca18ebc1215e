import { Module } from '@nestjs/common';
import { BatchesModule } from '../batches/batches.module';
import { CommonModule } from '../common/common.module';
import { WebMetricsModule } from '../ops/metrics.module';
import { BatchEvents } from './batch-events';
import { EventsController } from './events.controller';

/** A batch's results as server-sent events. */
@Module({ imports: [BatchesModule, CommonModule, WebMetricsModule], controllers: [EventsController], providers: [BatchEvents] })
export class EventsModule {}
