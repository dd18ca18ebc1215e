import { Controller, Get, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AppConfig, AppConfigModule, ConfigError } from '@app/config';
import { startApp } from './bootstrap';
import { LoggingModule } from './logging.module';
import { MetricsModule, MetricsRegistry } from './metrics.module';

@Controller('hello')
class HelloController {
  private readonly hits: Counter;
  constructor(registry: MetricsRegistry) {
    this.hits = new Counter({ name: 'hello_hits_total', help: 'hellos', registers: [registry] });
  }

  @Get()
  hello(): { hello: string } {
    this.hits.inc();
    return { hello: 'world' };
  }
}

@Module({})
class TestModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: TestModule,
      imports: [AppConfigModule.forRoot(config), LoggingModule, MetricsModule],
      controllers: [HelloController],
    };
  }
}

const env = {
  LAUNCH_QUEUE_URL: 'http://127.0.0.1:1/q/launch',
  MONITOR_QUEUE_URL: 'http://127.0.0.1:1/q/monitor',
  OUTPUT_QUEUE_URL: 'http://127.0.0.1:1/q/output',
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'silent',
};

describe('startApp', () => {
  it('refuses a bad environment before creating anything, naming the variable', async () => {
    await expect(startApp({ name: 'test-app', http: true, module: (c) => TestModule.register(c) }, { ...env, PORT: 'eighty' })).rejects.toThrow(
      ConfigError,
    );
    await expect(startApp({ name: 'test-app', http: true, module: (c) => TestModule.register(c) }, { ...env, PORT: 'eighty' })).rejects.toThrow(
      /PORT: PORT must be an integer number \(got "eighty"\)/,
    );
  });

  it('serves HTTP on the configured port with the app registry at /metrics', async () => {
    const app = await startApp<INestApplication>({ name: 'test-app', http: true, module: (c) => TestModule.register(c) }, env);
    try {
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      expect(await (await fetch(`${url}/hello`)).json()).toEqual({ hello: 'world' });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('hello_hits_total 1');
      expect(metrics).toContain('process_cpu_user_seconds_total');
    } finally {
      await app.close();
    }
  });
});
