import { Module, type DynamicModule } from '@nestjs/common';
import { AppConfig, AppConfigModule } from '@app/config';
import { AwsModule } from '@app/aws';
import { FleetModule } from '@app/fleet';
import { LoggingModule, MetricsModule } from '@app/platform';
import { FleetController } from './fleet.controller';
import { HealthController } from './health.controller';
import { ScalingLoop } from './scaling-loop';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [AppConfigModule.forRoot(config), LoggingModule, AwsModule, FleetModule, MetricsModule],
      controllers: [FleetController, HealthController],
      providers: [ScalingLoop],
    };
  }
}
