import type { NestExpressApplication } from '@nestjs/platform-express';
import { consumersProbe, runApp } from '@app/platform';
import { AppModule } from './app/app.module';
import { configureWebApp } from './app/configure';
import { OutputConsumer } from './app/results/output-consumer';

runApp<NestExpressApplication>({
  name: 'web-tier',
  http: true,
  module: (config) => AppModule.register(config),
  configure: configureWebApp,
  // The systemd watchdog is fed while this tier hears results (its output consumer progresses).
  liveness: (app, config) => {
    const output = app.get(OutputConsumer);
    return consumersProbe(() => [output.consumer], config.consumerUnhealthySeconds * 1000);
  },
});
