import { Module, type DynamicModule } from '@nestjs/common';
import { AppConfig, AppConfigModule } from '@app/config';
import { AwsModule } from '@app/aws';
import { LoggingModule } from '@app/platform';
import { WorkerService } from './worker.service';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [AppConfigModule.forRoot(config), LoggingModule, AwsModule],
      providers: [WorkerService],
    };
  }
}
