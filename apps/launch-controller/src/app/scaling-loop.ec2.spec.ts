import { EC2Client } from '@aws-sdk/client-ec2';
import { loadConfig, type AppConfig } from '@app/config';
import { Ec2Fleet } from '@app/fleet';
import { MetricsRegistry } from '@app/platform';
import { startEc2StandIn, type Ec2Faults, type Ec2StandIn } from '@tools/ec2-standin';
import { sleep, startTestStack, until, type TestStack } from '@tools/testing';
import { ScalingLoop } from './scaling-loop';

/**
 * The scaling loop with the real Ec2Fleet and AWS SDK against the EC2
 * stand-in (a test double speaking EC2's Query API over HTTP), and real SQS.
 * The stand-in's instances run no worker here: nothing takes the backlog, so
 * the loop keeps wanting MAX_WORKERS, which is what these tests lean on.
 * The EC2 client makes one attempt per call, so what is measured is the
 * loop's own back-off, not the SDK's retries inside one call.
 */
const MAX_WORKERS = 3;

describe('ScalingLoop on EC2 (stand-in): describe lag, partial capacity, throttling', () => {
  let stack: TestStack;
  let ec2: Ec2StandIn | undefined;
  let client: EC2Client | undefined;
  let loop: ScalingLoop | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let peak = 0;

  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'scale-ec2-' });
    // Ten images nobody takes: the backlog stays.
    await stack.resources.launchQueue.sendBatch(Array.from({ length: 10 }, (_, i) => ({ id: `m${i}`, body: `{"n":${i}}` })));
  });
  afterAll(() => stack.stop());
  afterEach(async () => {
    clearInterval(sampler);
    await loop?.onApplicationShutdown();
    client?.destroy();
    await ec2?.stop();
    loop = client = ec2 = undefined;
  });

  const alive = () => (ec2?.instances() ?? []).filter((i) => i.state === 'pending' || i.state === 'running').length;
  const runInstancesCalls = () => (ec2?.calls ?? []).filter((c) => c.action === 'RunInstances');

  /** Starts the stand-in and the loop, and samples the instances alive every 25 ms from then on. */
  async function start(faults: Partial<Ec2Faults>, env: Record<string, string> = {}, maxWorkers = MAX_WORKERS): Promise<{ config: AppConfig; loop: ScalingLoop }> {
    ec2 = await startEc2StandIn({ bootSeconds: 1, faults });
    const config = loadConfig({
      ...stack.env,
      ...ec2.env,
      FLEET_PROVIDER: 'ec2',
      EC2_AMI_ID: 'ami-0123456789abcdef0',
      MAX_WORKERS: String(maxWorkers),
      // One image per worker, and slow ones (so running workers drain nothing to
      // speak of): the backlog of 10 asks for 10 workers, capped at MAX_WORKERS.
      WORKER_PREFETCH: '1',
      IMAGE_SECONDS: '1000',
      SCALE_TICK_MS: '100',
      LAUNCH_BACKOFF_MS: '300',
      LOG_LEVEL: 'silent',
      ...env,
    });
    client = new EC2Client({ region: ec2.region, endpoint: ec2.endpoint, maxAttempts: 1, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    loop = new ScalingLoop(config, stack.resources, new Ec2Fleet(client, config.scaling), new MetricsRegistry());
    peak = 0;
    sampler = setInterval(() => (peak = Math.max(peak, alive())), 25);
    await loop.onApplicationBootstrap();
    return { config, loop };
  }

  it('does not overshoot MAX_WORKERS while DescribeInstances lags RunInstances by 10 s', async () => {
    const { loop } = await start({ describeLagSeconds: 10 });
    // A fixed window: what is shown is that nothing more happens during the lag (no event marks an overshoot that did not occur).
    await sleep(3000);
    // Listed by nobody yet, remembered by the loop: three launched, once.
    expect(runInstancesCalls()).toHaveLength(1);
    expect(alive()).toBe(MAX_WORKERS);
    expect(loop.status.workers.alive).toBe(MAX_WORKERS);
    expect(loop.status.lastDecision).toMatchObject({ action: 'hold', rule: 'at-max-workers' });
    // Past the lag the fleet lists them itself; still three.
    await until('the fleet to list the launched workers as running', () => loop.status.workers.running === MAX_WORKERS, 15_000);
    expect(loop.status.workers).toMatchObject({ running: MAX_WORKERS, alive: MAX_WORKERS });
    expect(runInstancesCalls()).toHaveLength(1);
    // The sampler may not have run since the last launch: count what is alive now too.
    peak = Math.max(peak, alive());
    expect(peak).toBe(MAX_WORKERS);
  }, 30_000);

  it('takes partial capacity and launches the shortfall with back-off once capacity returns', async () => {
    const { loop } = await start({ capacity: 2 }, {}, 5);
    // A fixed window: the number of retries in it is what shows the back-off (the loop runs on real time over HTTP).
    await sleep(2000);
    // The first launch asked for 5 and took the 2 that fit (MinCount 1), instead of none.
    expect(loop.status.lastLaunch).toMatchObject({ requested: 5, count: 2 });
    expect(alive()).toBe(2);
    // The shortfall is retried with back-off (0.3, 0.6, 1.2 s...), not every 100 ms tick.
    const tries = runInstancesCalls();
    expect(tries[0].error).toBeUndefined();
    expect(tries.slice(1).every((c) => c.error === 'InsufficientInstanceCapacity')).toBe(true);
    expect(tries.length).toBeGreaterThanOrEqual(2);
    expect(tries.length).toBeLessThanOrEqual(4);
    expect(loop.status.launchBackoff?.reason).toMatch(/^a failed launch of 3 \(ec2.RunInstances: InsufficientInstanceCapacity/);
    expect(loop.status.lastDecision).toMatchObject({ action: 'hold', rule: 'backoff' });
    ec2?.setFaults({ capacity: undefined });
    await until('the shortfall launched', () => alive() === 5, 6000);
    await until('the back-off to clear', () => loop.status.launchBackoff === undefined, 5000);
    // The sampler may not have run since the last launch: count what is alive now too.
    peak = Math.max(peak, alive());
    expect(peak).toBe(5);
  }, 30_000);

  it('backs off throttled launches (RequestLimitExceeded) instead of retrying every tick, then launches', async () => {
    const { loop } = await start({ throttleEveryNth: 1, throttleActions: ['RunInstances'] });
    // A fixed window: the number of tries in it is what shows the back-off.
    await sleep(3000);
    const throttled = runInstancesCalls();
    // 0, 0.3, 0.9, 2.1 s: four tries in three seconds, where one per tick would be thirty.
    expect(throttled.every((c) => c.error === 'RequestLimitExceeded')).toBe(true);
    expect(throttled.length).toBeGreaterThanOrEqual(3);
    expect(throttled.length).toBeLessThanOrEqual(5);
    expect(alive()).toBe(0);
    expect(loop.status.launchBackoff?.reason).toMatch(/RequestLimitExceeded/);
    ec2?.setFaults({ throttleEveryNth: 0 });
    await until('the launches after the throttling', () => alive() === MAX_WORKERS, 6000);
    // The sampler may not have run since the last launch: count what is alive now too.
    peak = Math.max(peak, alive());
    expect(peak).toBe(MAX_WORKERS);
  }, 30_000);

  it('backs off throttled ticks (DescribeInstances) and reports them on the status until they pass', async () => {
    const { loop } = await start({ throttleEveryNth: 1, throttleActions: ['DescribeInstances'] });
    // A fixed window: the number of ticks in it is what shows the back-off.
    await sleep(3000);
    const describes = (ec2?.calls ?? []).filter((c) => c.action === 'DescribeInstances');
    // 0.1, 0.2, 0.4, 0.8, 1.6 s (x1-2 jitter) apart: a handful, where one per tick would be thirty.
    expect(describes.length).toBeGreaterThanOrEqual(3);
    expect(describes.length).toBeLessThanOrEqual(8);
    expect(loop.status).toMatchObject({ lastTickOk: false, lastError: { message: expect.stringMatching(/RequestLimitExceeded/) } });
    expect(runInstancesCalls()).toHaveLength(0);
    ec2?.setFaults({ throttleEveryNth: 0 });
    await until('the launches after the throttling', () => alive() === MAX_WORKERS, 8000);
    await until('the status to report a good tick', () => loop.status.lastTickOk === true, 8000);
    // The sampler may not have run since the last launch: count what is alive now too.
    peak = Math.max(peak, alive());
    expect(peak).toBe(MAX_WORKERS);
  }, 30_000);
});
