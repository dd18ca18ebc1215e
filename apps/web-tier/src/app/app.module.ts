import { join } from 'node:path';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { AppConfig, AppConfigModule } from '@app/config';
import { AwsModule } from '@app/aws';
import { LoggingModule } from '@app/platform';
import { ApiKeyGuard } from './common/api-key.guard';
import { CommonModule } from './common/common.module';
import { HttpErrorFilter } from './common/http-error.filter';
import { BatchesModule } from './batches/batches.module';
import { EventsModule } from './events/events.module';
import { OpsModule } from './ops/ops.module';
import { PAGE_DIR, PageController } from './page/page.controller';
import { StatusModule } from './status/status.module';
import { UploadModule } from './upload/upload.module';
import { WebhooksModule } from './webhooks/webhooks.module';

/** Where the build puts the page: `page/` next to main.js. */
export function defaultPageDir(): string {
  return join(__dirname, 'page');
}

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggingModule,
        AwsModule,
        ThrottlerModule.forRoot({
          throttlers: [{ name: 'default', ttl: 60_000, limit: config.web.rateLimitPerMinute }],
          errorMessage: `too many requests: at most ${config.web.rateLimitPerMinute} per minute`,
          // One budget per client across every route (the default is one per route, which a client
          // could multiply by spreading requests over routes).
          generateKey: (_context, tracker, throttlerName) => `${throttlerName}:${tracker}`,
        }),
        CommonModule,
        UploadModule,
        BatchesModule,
        EventsModule,
        OpsModule,
        StatusModule,
        WebhooksModule,
      ],
      // The page's GET / and the classic POST / share the root path; order does not matter (different methods).
      controllers: [PageController],
      providers: [
        { provide: PAGE_DIR, useValue: config.web.pageDir ?? defaultPageDir() },
        { provide: APP_FILTER, useClass: HttpErrorFilter },
        // Rate limit first: every request counts, so a flood of wrong keys is throttled too
        // (the limit is per client address, so it uses up only the flooder's own rate).
        { provide: APP_GUARD, useClass: ThrottlerGuard },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
      ],
    };
  }
}
