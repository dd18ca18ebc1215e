import { SSMClient } from '@aws-sdk/client-ssm';
import type { INestApplication } from '@nestjs/common';
import { Module, type DynamicModule } from '@nestjs/common';
import { AppConfig, AppConfigModule, ConfigError } from '@app/config';
import { startApp } from './bootstrap';
import { LoggingModule } from './logging.module';
import { loadSsmConfig, ssmPathsOf } from './ssm-config';
import { startSsmDouble, type SsmDouble } from '@tools/testing';

const client = (endpoint: string) =>
  new SSMClient({ region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }, maxAttempts: 1 });

describe('loadSsmConfig against the SSM test double (real SDK, JSON 1.1 over HTTP)', () => {
  let ssm: SsmDouble;
  let c: SSMClient;
  beforeEach(async () => {
    ssm = await startSsmDouble(
      {
        '/ics/prod/shared/LAUNCH_QUEUE_URL': 'https://sqs.eu-west-1.amazonaws.com/1/ics-launch',
        '/ics/prod/shared/MAX_WORKERS': '20',
        '/ics/prod/shared/LOG_LEVEL': 'info',
        '/ics/prod/launch-controller/MAX_WORKERS': '7',
        '/ics/prod/launch-controller/nested/IGNORED': 'x',
        '/ics/prod/web-tier/PORT': '8080',
      },
      2,
    );
    c = client(ssm.endpoint);
  });
  afterEach(async () => {
    c.destroy();
    await ssm.close();
  });

  it('reads every parameter directly under each path, page by page, a later path winning', async () => {
    const vars = await loadSsmConfig({ CONFIG_SSM_PATH: '/ics/prod/shared,/ics/prod/launch-controller' }, { client: c });
    expect(vars).toEqual({
      LAUNCH_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/ics-launch',
      MAX_WORKERS: '7',
      LOG_LEVEL: 'info',
    });
    expect(ssm.requests.every((r) => r.target === 'AmazonSSM.GetParametersByPath')).toBe(true);
    expect(ssm.requests[0].body).toMatchObject({ Path: '/ics/prod/shared/', Recursive: false, WithDecryption: true });
    expect(ssm.requests[0].accessKeyId).toBe('AKIDTEST');
    // Three shared parameters at two a page: the second request carries the first's NextToken.
    expect(ssm.requests[1].body).toMatchObject({ Path: '/ics/prod/shared/', NextToken: '2' });
  });

  it('leaves a variable the environment already sets to the environment', async () => {
    const vars = await loadSsmConfig({ CONFIG_SSM_PATH: '/ics/prod/shared', LOG_LEVEL: 'debug' }, { client: c });
    expect(vars['LOG_LEVEL']).toBeUndefined();
    expect(vars['MAX_WORKERS']).toBe('20');
  });

  it('reads the current values on each call: a restart picks up a change', async () => {
    expect((await loadSsmConfig({ CONFIG_SSM_PATH: '/ics/prod/launch-controller' }, { client: c }))['MAX_WORKERS']).toBe('7');
    ssm.parameters.set('/ics/prod/launch-controller/MAX_WORKERS', '12');
    expect((await loadSsmConfig({ CONFIG_SSM_PATH: '/ics/prod/launch-controller' }, { client: c }))['MAX_WORKERS']).toBe('12');
  });

  it('calls nothing without CONFIG_SSM_PATH', async () => {
    expect(await loadSsmConfig({}, { client: c })).toEqual({});
    expect(await loadSsmConfig({ CONFIG_SSM_PATH: ' ' }, { client: c })).toEqual({});
    expect(ssm.requests).toHaveLength(0);
  });

  it('refuses a path with no parameters rather than starting on defaults', async () => {
    await expect(loadSsmConfig({ CONFIG_SSM_PATH: '/ics/other/shared' }, { client: c })).rejects.toThrow(ConfigError);
    await expect(loadSsmConfig({ CONFIG_SSM_PATH: '/ics/other/shared' }, { client: c })).rejects.toThrow(
      'CONFIG_SSM_PATH: no parameters under /ics/other/shared/ (wrong path or region?)',
    );
  });

  it('says which path it could not read, and why, when SSM refuses', async () => {
    ssm.failWith = 'AccessDeniedException';
    await expect(loadSsmConfig({ CONFIG_SSM_PATH: '/ics/prod/shared' }, { client: c })).rejects.toThrow(
      /CONFIG_SSM_PATH: cannot read \/ics\/prod\/shared\/ from SSM Parameter Store \(AccessDeniedException: /,
    );
  });

  it('fails in seconds, naming the path, when SSM cannot be reached', async () => {
    await ssm.close();
    const started = Date.now();
    await expect(loadSsmConfig({ CONFIG_SSM_PATH: '/ics/prod/shared', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_SSM: ssm.endpoint, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' })).rejects.toThrow(
      /cannot read \/ics\/prod\/shared\/ from SSM Parameter Store/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    ssm = await startSsmDouble();
  });

  it('refuses a parameter that is not named after a variable', async () => {
    ssm.parameters.set('/ics/prod/web-tier/api-keys', 'k');
    await expect(loadSsmConfig({ CONFIG_SSM_PATH: '/ics/prod/web-tier' }, { client: c })).rejects.toThrow(
      /parameter \/ics\/prod\/web-tier\/api-keys is not named after a variable/,
    );
  });

  it('refuses a CONFIG_SSM_PATH that is not a list of paths', () => {
    expect(() => ssmPathsOf('ics/prod')).toThrow(/must be one or more comma-separated Parameter Store paths/);
    expect(() => ssmPathsOf(',')).toThrow(ConfigError);
    expect(ssmPathsOf(' /a/b , /c/ ')).toEqual(['/a/b/', '/c/']);
  });
});

@Module({})
class EmptyModule {
  static register(config: AppConfig): DynamicModule {
    return { module: EmptyModule, imports: [AppConfigModule.forRoot(config), LoggingModule] };
  }
}

describe('startApp with CONFIG_SSM_PATH', () => {
  it('starts with the configuration it read from SSM, through the default client built from the environment', async () => {
    const ssm = await startSsmDouble({
      '/ics/t/shared/LAUNCH_QUEUE_URL': 'http://127.0.0.1:1/q/launch',
      '/ics/t/shared/MONITOR_QUEUE_URL': 'http://127.0.0.1:1/q/monitor',
      '/ics/t/shared/OUTPUT_QUEUE_URL': 'http://127.0.0.1:1/q/output',
      '/ics/t/app/MAX_WORKERS': '3',
    });
    const env = {
      CONFIG_SSM_PATH: '/ics/t/shared,/ics/t/app',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL_SSM: ssm.endpoint,
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'secret',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    };
    let seen: AppConfig | undefined;
    try {
      const app = await startApp<INestApplication>(
        { name: 'ssm-app', http: true, module: (config) => ((seen = config), EmptyModule.register(config)) },
        env,
      );
      await app.close();
      expect(seen?.queues.launch).toBe('http://127.0.0.1:1/q/launch');
      expect(seen?.fleet.maxWorkers).toBe(3);
      expect(ssm.requests.map((r) => r.body['Path'])).toEqual(['/ics/t/shared/', '/ics/t/app/']);
    } finally {
      await ssm.close();
    }
  });

  it('does not start when SSM refuses', async () => {
    const ssm = await startSsmDouble({ '/ics/t/shared/LOG_LEVEL': 'info' });
    ssm.failWith = 'AccessDeniedException';
    try {
      await expect(
        startApp(
          { name: 'ssm-app', http: true, module: (config) => EmptyModule.register(config) },
          { CONFIG_SSM_PATH: '/ics/t/shared', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_SSM: ssm.endpoint, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' },
        ),
      ).rejects.toThrow(/AccessDeniedException/);
    } finally {
      await ssm.close();
    }
  });
});
