import { Module, type DynamicModule } from '@nestjs/common';
import { AppConfig, AppConfigModule } from '@app/config';
import { AwsModule } from '@app/aws';
import { LoggingModule } from '@app/platform';
import type { PreloadedModel } from '../preload';
import { PRELOADED_MODEL, WorkerService } from './worker.service';

@Module({})
export class AppModule {
  /** `preloaded`: the model main.ts started loading before the app's modules (else WorkerService loads it). */
  static register(config: AppConfig, preloaded?: PreloadedModel): DynamicModule {
    return {
      module: AppModule,
      imports: [AppConfigModule.forRoot(config), LoggingModule, AwsModule],
      providers: [WorkerService, { provide: PRELOADED_MODEL, useValue: preloaded ?? null }],
    };
  }
}
