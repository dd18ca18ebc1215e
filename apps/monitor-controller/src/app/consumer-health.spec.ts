import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { startApp } from '@app/platform';
import { startFaultProxy, type FaultProxy } from '@tools/local-aws';
import { eventually, startTestStack, type TestStack } from '@tools/testing';
import { AppModule } from './app.module';
import { DeadLetterWatcher } from './dead-letter-watcher';

describe('monitor-controller /health tells the truth about its consumers', () => {
  let stack: TestStack;
  let proxy: FaultProxy;
  let app: INestApplication | undefined;
  let stateDir: string;
  let url: string;

  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'health-' });
    proxy = await startFaultProxy({ port: stack.aws.port });
    stateDir = mkdtempSync(join(tmpdir(), 'monitor-health-'));
    // The app reaches S3 and SQS only through the proxy, so that cutting it is an outage for the app alone.
    const via = (u: string) => u.replace(`:${stack.aws.port}/`, `:${proxy.port}/`);
    const env = {
      ...stack.env,
      AWS_ENDPOINT_URL: proxy.endpoint,
      LAUNCH_QUEUE_URL: via(stack.aws.queues.launch),
      MONITOR_QUEUE_URL: via(stack.aws.queues.monitor),
      OUTPUT_QUEUE_URL: via(stack.aws.queues.output),
      LAUNCH_DEAD_LETTER_QUEUE_URL: via(stack.aws.queues.launchDeadLetter),
      MONITOR_DEAD_LETTER_QUEUE_URL: via(stack.aws.queues.monitorDeadLetter),
      CONSUMER_UNHEALTHY_SECONDS: '1',
      FLEET_STATE_DIR: stateDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    };
    app = await startApp({ name: 'monitor-controller', http: true, module: (config) => AppModule.register(config) }, env);
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await proxy?.stop();
    await stack?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  const health = async () => {
    const res = await fetch(`${url}/health`);
    return { status: res.status, body: (await res.json()) as Record<string, Record<string, { status: string; message?: string }>> };
  };
  type Health = Awaited<ReturnType<typeof health>>;
  /** Asks /health until `done` holds, and returns that answer. */
  const untilHealth = (what: string, done: (h: Health) => boolean, timeoutMs: number) =>
    eventually(async () => {
      const h = await health();
      return done(h) ? h : undefined;
    }, timeoutMs, 200, what);

  it('is up while the monitor queue and both dead-letter queues are consumed', async () => {
    const h = await health();
    expect(h.status).toBe(200);
    expect(h.body['info']).toEqual({
      monitorQueue: { status: 'up', consumers: 1 },
      launchDeadLetterQueue: { status: 'up', consumers: 1 },
      monitorDeadLetterQueue: { status: 'up', consumers: 1 },
    });
  });

  it('goes down once receives have failed for CONSUMER_UNHEALTHY_SECONDS, and up again when SQS is back', async () => {
    proxy.cut();
    try {
      // Each consumer fails on its own next receive (after the SDK's own retries).
      const down = await untilHealth('/health to report the monitor queue down', (h) => h.body['error']?.['monitorQueue'] !== undefined, 20_000);
      expect(down.status).toBe(503);
      expect(down.body['error']['monitorQueue']).toEqual({ status: 'down', message: expect.stringMatching(/receives from .*health-monitor failing for \d+ s: sqs.ReceiveMessage/) });
    } finally {
      proxy.restore();
    }
    // Back once a receive completes again: the first after the outage is a long poll of up to 20 s.
    const up = await untilHealth('/health to be up again', (h) => h.status === 200, 45_000);
    expect(up.status).toBe(200);
  }, 90_000);

  it('goes down when a consumer has stopped', async () => {
    await app?.get(DeadLetterWatcher).onApplicationShutdown();
    const h = await health();
    expect(h.status).toBe(503);
    expect(h.body['error']['launchDeadLetterQueue'].message).toMatch(/consumer of health-launch-dlq is stopped/);
    expect(h.body['error']['monitorDeadLetterQueue'].message).toMatch(/consumer of health-monitor-dlq is stopped/);
    expect(h.body['info']['monitorQueue'].status).toBe('up');
  });
});
