import { runApp } from '@app/platform';
import { AppModule } from './app/app.module';
import { HealthController } from './app/health.controller';

runApp({
  name: 'launch-controller',
  http: true,
  module: (config) => AppModule.register(config),
  // The systemd watchdog is fed while the scaling loop ticks (what /health says).
  liveness: (app) => {
    const health = app.get(HealthController);
    return (now) => {
      const h = health.check(now);
      return { healthy: h.status === 'ok', reason: h.reason };
    };
  },
});
