import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import { AppConfig, AppConfigModule } from '@app/config';
import { AwsModule } from '@app/aws';
import { FleetModule } from '@app/fleet';
import { LoggingModule, MetricsModule } from '@app/platform';
import { DeadLetterWatcher } from './dead-letter-watcher';
import { DeadlineMonitor } from './deadline-monitor';
import { GiveUp } from './give-up';

@Controller('health')
class HealthController {
  @Get()
  health(): { status: string } {
    return { status: 'ok' };
  }
}

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [AppConfigModule.forRoot(config), LoggingModule, AwsModule, FleetModule, MetricsModule],
      controllers: [HealthController],
      providers: [DeadlineMonitor, DeadLetterWatcher, GiveUp],
    };
  }
}
