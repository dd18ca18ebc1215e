import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { AwsClients, AwsResources } from '@app/aws';
import { loadConfig } from '@app/config';
import { Fleet, LocalProcessFleet } from '@app/fleet';
import { MetricsRegistry, startApp } from '@app/platform';
import { startTestStack, WORKSPACE_ROOT, type TestStack } from '@tools/testing';
import { AppModule } from './app.module';
import { HealthController } from './health.controller';
import { ScalingLoop } from './scaling-loop';

// Each test makes a few S3/SQS round trips on loopback; the bound is for a loaded machine, not the expected time.
jest.setTimeout(30_000);

// A process that speaks the worker status protocol: the loop's subject here is
// launching and counting; the real worker is exercised in the fleet e2e test.
const STATUS_PROCESS = join(WORKSPACE_ROOT, 'libs/fleet/src/testing/status-reporting-process.js');

describe('ScalingLoop', () => {
  let stack: TestStack;
  let dir: string;
  let fleet: LocalProcessFleet;

  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'scale-' });
  });
  afterAll(() => stack.stop());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scale-'));
    fleet = new LocalProcessFleet({ workerMain: STATUS_PROCESS, env: {}, stateDir: dir, killGraceMs: 500 });
  });
  afterEach(async () => {
    await fleet.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('scales from zero to the backlog, bounded by MAX_WORKERS, and holds there', async () => {
    const config = loadConfig({ ...stack.env, MAX_WORKERS: '3', WORKER_PREFETCH: '2' });
    const loop = new ScalingLoop(config, stack.resources, fleet, new MetricsRegistry());
    await loop.lease.refresh();
    await stack.resources.launchQueue.sendBatch(Array.from({ length: 10 }, (_, i) => ({ id: `m${i}`, body: `{"n":${i}}` })));

    // Two images per worker: 10 call for 5, capped at 3.
    expect(await loop.tick()).toMatchObject({
      action: 'launch',
      count: 3,
      backlog: 10,
      desired: 5,
      rule: 'scale-from-zero',
      reason: 'scale from zero: 10 waiting, 10 left after 3 s of boot for the 0 alive: 5 more at up to 2 each',
    });
    expect((await fleet.list()).length).toBe(3);
    expect(loop.status.lastLaunch?.ids).toEqual(['local-1', 'local-2', 'local-3']);
    expect(await loop.tick()).toMatchObject({ action: 'hold', count: 0, rule: 'at-max-workers', reason: 'at MAX_WORKERS (3)' });
    expect((await fleet.list()).length).toBe(3);

    for (;;) {
      const ms = await stack.resources.launchQueue.receive({ maxMessages: 10 });
      if (!ms.length) break;
      await stack.resources.launchQueue.deleteBatch(ms.map((m) => m.receiptHandle));
    }
    expect(await loop.tick()).toMatchObject({ action: 'hold', reason: 'no backlog', backlog: 0 });
    await loop.lease.release();
  });

  it('launches only while it holds the launch lease: a standby plans nothing and stays healthy', async () => {
    const config = loadConfig({ ...stack.env, MAX_WORKERS: '3' });
    const holder = new ScalingLoop(config, stack.resources, fleet, new MetricsRegistry());
    const standby = new ScalingLoop(config, stack.resources, fleet, new MetricsRegistry());
    expect((await holder.lease.refresh()).state).toBe('holder');
    expect((await standby.lease.refresh()).state).toBe('standby');
    await stack.resources.launchQueue.send('{"n":1}');
    expect(await standby.tick()).toBeUndefined();
    expect(standby.status).toMatchObject({ lease: 'standby', lastTickOk: true });
    expect(await fleet.list()).toEqual([]);
    expect(await holder.tick()).toMatchObject({ action: 'launch', count: 1 });
    expect(await fleet.list()).toHaveLength(1);
    // The holder shuts down cleanly: the standby takes over at its next refresh, not a lease later.
    await holder.lease.release();
    expect((await standby.lease.refresh()).state).toBe('holder');
    await standby.lease.release();
    for (;;) {
      const ms = await stack.resources.launchQueue.receive({ maxMessages: 10 });
      if (!ms.length) break;
      await stack.resources.launchQueue.deleteBatch(ms.map((m) => m.receiptHandle));
    }
  });

  it('survives a failing tick and records the error', async () => {
    const broken = loadConfig({ ...stack.env, AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:1' });
    const clients = new AwsClients(broken);
    const loop = new ScalingLoop(broken, new AwsResources(broken, clients), fleet, new MetricsRegistry());
    await loop.lease.refresh(); // S3 still answers: the lease is held, SQS is what fails
    expect(await loop.tick()).toBeUndefined();
    expect(loop.status.lastError?.message).toMatch(/ECONNREFUSED/);
    expect(loop.status.lastTickOk).toBe(false);
    expect(await fleet.list()).toEqual([]);
    await loop.lease.release();
    clients.destroy();
  });

  it('/health is 503 with the reason while ticks fail, and 200 once they work again', async () => {
    const env = { ...stack.env, PORT: '0', HOST: '127.0.0.1', FLEET_STATE_DIR: dir, WORKER_MAIN: STATUS_PROCESS, LOG_LEVEL: 'silent' };
    const broken = await startApp<INestApplication>(
      { name: 'launch-controller', http: true, module: (c) => AppModule.register(c) },
      { ...env, AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:1' },
    );
    try {
      await broken.get(ScalingLoop).tick();
      const res = await fetch(`${await broken.getUrl()}/health`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        status: 'error',
        reason: expect.stringMatching(/^the last scaling tick failed: .*ECONNREFUSED/),
        lastError: { message: expect.stringMatching(/ECONNREFUSED/) },
      });
    } finally {
      await broken.close();
    }
    const app = await startApp<INestApplication>({ name: 'launch-controller', http: true, module: (c) => AppModule.register(c) }, env);
    try {
      await app.get(ScalingLoop).tick();
      const res = await fetch(`${await app.getUrl()}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ok', lastTickAt: expect.any(String) });
    } finally {
      await app.close();
    }
  });

  it('/health says so when no tick has completed for a while (a hung call)', () => {
    const config = loadConfig({ ...stack.env, SCALE_TICK_MS: '1000' });
    const status = { lastTickOk: true, updatedAt: new Date(0).toISOString() } as ScalingLoop['status'];
    const health = new HealthController({ status } as ScalingLoop, config);
    expect(health.check(29_000)).toMatchObject({ status: 'ok' });
    expect(health.check(31_000)).toMatchObject({ status: 'error', reason: 'no scaling tick has completed for 31 s' });
    const fresh = new HealthController({ status: {} } as ScalingLoop, config);
    expect(fresh.check(0)).toMatchObject({ status: 'error', reason: 'no scaling tick has completed yet' });
  });

  it('serves the fleet status and metrics over HTTP', async () => {
    const app = await startApp<INestApplication>(
      { name: 'launch-controller', http: true, module: (c) => AppModule.register(c) },
      { ...stack.env, PORT: '0', HOST: '127.0.0.1', FLEET_STATE_DIR: dir, WORKER_MAIN: STATUS_PROCESS, LOG_LEVEL: 'silent' },
    );
    try {
      const url = await app.getUrl();
      await stack.resources.launchQueue.send('{"n":1}');
      const loop = app.get(ScalingLoop);
      await loop.tick();
      const status = (await (await fetch(`${url}/api/fleet`)).json()) as Record<string, unknown>;
      expect(status).toMatchObject({ pending: expect.any(Number), running: expect.any(Number), free: expect.any(Number), maxWorkers: 20 });
      expect((status['lastDecision'] as { backlog: number }).backlog).toBeGreaterThanOrEqual(1);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/ics_scaling_decisions_total\{action="(launch|hold)",rule="[a-z-]+"\} \d+/);
      expect(metrics).toContain('ics_workers_desired');
      expect(metrics).toContain('ics_launch_backlog');
      await (app.get(Fleet) as LocalProcessFleet).shutdown();
    } finally {
      await app.close();
    }
  });
});
