import type { NestExpressApplication } from '@nestjs/platform-express';
import { runApp } from '@app/platform';
import { AppModule } from './app/app.module';
import { configureWebApp } from './app/configure';

runApp<NestExpressApplication>({
  name: 'web-tier',
  http: true,
  module: (config) => AppModule.register(config),
  configure: configureWebApp,
});
