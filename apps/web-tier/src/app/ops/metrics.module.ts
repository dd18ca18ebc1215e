import { Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** The web tier's Prometheus metrics, which every feature counts into. */
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class WebMetricsModule {}
