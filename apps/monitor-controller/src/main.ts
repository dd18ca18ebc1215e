import { AwsResources } from '@app/aws';
import { consumersProbe, runApp } from '@app/platform';
import { AppModule } from './app/app.module';

runApp({
  name: 'monitor-controller',
  http: true,
  module: (config) => AppModule.register(config),
  // The systemd watchdog is fed while the monitor queue and the dead-letter queues are consumed (what /health says).
  liveness: (app, config) => {
    const aws = app.get(AwsResources);
    const queues = [aws.monitorQueue, aws.launchDeadLetterQueue, aws.monitorDeadLetterQueue].filter((q) => q !== undefined);
    return consumersProbe(() => queues.flatMap((q) => [...q.consumers]), config.consumerUnhealthySeconds * 1000);
  },
});
