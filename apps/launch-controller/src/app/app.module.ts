import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import { AppConfig, AppConfigModule } from '@app/config';
import { AwsModule } from '@app/aws';
import { FleetModule } from '@app/fleet';
import { LoggingModule, MetricsModule } from '@app/platform';
import { FleetController } from './fleet.controller';
import { ScalingLoop } from './scaling-loop';

@Controller('health')
class HealthController {
  constructor(private readonly loop: ScalingLoop) {}

  @Get()
  health(): { status: string; lastTickAt?: string; lastError?: { at: string; message: string } } {
    return { status: 'ok', lastTickAt: this.loop.status.updatedAt, lastError: this.loop.status.lastError };
  }
}

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
