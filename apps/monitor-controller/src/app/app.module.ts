import { Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AppConfig, AppConfigModule } from '@app/config';
import { AwsModule } from '@app/aws';
import { FleetModule } from '@app/fleet';
import { LoggingModule, MetricsModule } from '@app/platform';
import { ConsumerHealthIndicator, HealthController } from './consumer-health';
import { DeadLetterWatcher } from './dead-letter-watcher';
import { DeadlineMonitor } from './deadline-monitor';
import { GiveUp } from './give-up';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [AppConfigModule.forRoot(config), LoggingModule, AwsModule, FleetModule, MetricsModule, TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [DeadlineMonitor, DeadLetterWatcher, GiveUp, ConsumerHealthIndicator],
    };
  }
}
