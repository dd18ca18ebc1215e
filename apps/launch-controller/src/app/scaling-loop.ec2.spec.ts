import { EC2Client } from '@aws-sdk/client-ec2';
import { loadConfig, type AppConfig } from '@app/config';
import { Ec2Fleet } from '@app/fleet';
import { MetricsRegistry } from '@app/platform';
import { startEc2StandIn, type Ec2Faults, type Ec2StandIn } from '@tools/ec2-standin';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { ScalingLoop, type LoopClock } from './scaling-loop';

/**
 * The scaling loop with the real Ec2Fleet and AWS SDK against the EC2
 * stand-in (a test double speaking EC2's Query API over HTTP), and real SQS.
 * The stand-in's instances run no worker here: nothing takes the backlog, so
 * the loop keeps wanting MAX_WORKERS, which is what these tests lean on.
 * The EC2 client makes one attempt per call, so what is measured is the
 * loop's own back-off, not the SDK's retries inside one call.
 *
 * The loop runs on a virtual clock: seconds of ticks and back-offs pass as
 * fast as the calls they make, and how many calls a window of virtual time
 * holds depends on the back-off alone, not on how loaded the machine is.
 */
const MAX_WORKERS = 3;

/**
 * The loop's clock, driven by the test: a timer fires only in advance(), which
 * runs each tick that comes due to its end (a tick ends by scheduling the next).
 */
class VirtualClock implements LoopClock {
  private t = Date.now();
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private scheduled?: () => void;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    this.scheduled?.();
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves time on by `ms`, running every tick due meanwhile to its end; `afterTick` runs after each. */
  async advance(ms: number, afterTick: () => void): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const [id, next] = [...this.timers].sort(([, a], [, b]) => a.at - b.at)[0] ?? [];
      if (id === undefined || next.at > end) break;
      this.timers.delete(id);
      this.t = Math.max(this.t, next.at);
      const ended = new Promise<void>((resolve) => (this.scheduled = resolve));
      next.fn();
      await ended;
      afterTick();
    }
    this.t = end;
  }
}

describe('ScalingLoop on EC2 (stand-in): describe lag, partial capacity, throttling', () => {
  let stack: TestStack;
  let ec2: Ec2StandIn | undefined;
  let client: EC2Client | undefined;
  let loop: ScalingLoop | undefined;
  let clock: VirtualClock;
  let registry: MetricsRegistry;
  let peak = 0;

  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'scale-ec2-' });
    // Ten images nobody takes: the backlog stays.
    await stack.resources.launchQueue.sendBatch(Array.from({ length: 10 }, (_, i) => ({ id: `m${i}`, body: `{"n":${i}}` })));
  });
  afterAll(() => stack.stop());
  afterEach(async () => {
    await loop?.onApplicationShutdown();
    client?.destroy();
    await ec2?.stop();
    loop = client = ec2 = undefined;
  });

  const alive = () => (ec2?.instances() ?? []).filter((i) => i.state === 'pending' || i.state === 'running').length;
  const runInstancesCalls = () => (ec2?.calls ?? []).filter((c) => c.action === 'RunInstances');
  /** Launched workers the fleet does not list yet, as the loop's metric says. */
  const unlisted = async () => (await registry.getSingleMetric('ics_workers_unlisted')?.get())?.values[0]?.value;

  /** Lets `ms` of virtual time pass, counting after each tick the instances alive (launches happen only in ticks). */
  const advance = (ms: number) => clock.advance(ms, () => (peak = Math.max(peak, alive())));
  /** Ticks on (a tick's worth of virtual time at a time) until `cond` holds. */
  const tickUntil = (what: string, cond: () => boolean, timeoutMs = 10_000) =>
    until(
      what,
      async () => {
        await advance(100);
        return cond();
      },
      timeoutMs,
      0,
    );

  /** Starts the stand-in and the loop on the virtual clock; its first tick is due at once. */
  async function start(faults: Partial<Ec2Faults>, env: Record<string, string> = {}, maxWorkers = MAX_WORKERS): Promise<{ config: AppConfig; loop: ScalingLoop; fleet: Ec2Fleet }> {
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
    clock = new VirtualClock();
    registry = new MetricsRegistry();
    const fleet = new Ec2Fleet(client, config.scaling);
    loop = new ScalingLoop(config, stack.resources, fleet, registry, clock);
    peak = 0;
    await loop.onApplicationBootstrap();
    return { config, loop, fleet };
  }

  it('does not overshoot MAX_WORKERS while DescribeInstances lags RunInstances', async () => {
    // The lag is the stand-in's, in real time: long enough for every tick below to fall within it.
    const { loop, fleet } = await start({ describeLagSeconds: 5 });
    // Two seconds of ticks (twenty), none of which sees the launched workers listed.
    await advance(2000);
    expect(await unlisted()).toBe(MAX_WORKERS);
    // Listed by nobody yet, remembered by the loop: three launched, once.
    expect(runInstancesCalls()).toHaveLength(1);
    expect(alive()).toBe(MAX_WORKERS);
    expect(loop.status.workers.alive).toBe(MAX_WORKERS);
    expect(loop.status.lastDecision).toMatchObject({ action: 'hold', rule: 'at-max-workers' });
    // Past the lag (real time: the virtual clock stands still meanwhile) the fleet lists them itself; still three.
    await until('EC2 to list the launched workers as running', async () => (await fleet.list()).filter((w) => w.state === 'running').length === MAX_WORKERS, 15_000, 100);
    await advance(100);
    expect(await unlisted()).toBe(0);
    expect(loop.status.workers).toMatchObject({ running: MAX_WORKERS, alive: MAX_WORKERS });
    expect(runInstancesCalls()).toHaveLength(1);
    expect(peak).toBe(MAX_WORKERS);
  }, 30_000);

  it('takes partial capacity and launches the shortfall with back-off once capacity returns', async () => {
    const { loop } = await start({ capacity: 2 }, {}, 5);
    // The number of retries in two seconds is what shows the back-off.
    await advance(2000);
    // The first launch asked for 5 and took the 2 that fit (MinCount 1), instead of none.
    expect(loop.status.lastLaunch).toMatchObject({ requested: 5, count: 2 });
    expect(alive()).toBe(2);
    // The shortfall is retried with back-off (0.3, 0.6, 1.2 s... x1-2 jitter), not every 100 ms tick.
    const tries = runInstancesCalls();
    expect(tries[0].error).toBeUndefined();
    expect(tries.slice(1).every((c) => c.error === 'InsufficientInstanceCapacity')).toBe(true);
    expect(tries.length).toBeGreaterThanOrEqual(2);
    expect(tries.length).toBeLessThanOrEqual(4);
    expect(loop.status.launchBackoff?.reason).toMatch(/^a failed launch of 3 \(ec2.RunInstances: InsufficientInstanceCapacity/);
    expect(loop.status.lastDecision).toMatchObject({ action: 'hold', rule: 'backoff' });
    ec2?.setFaults({ capacity: undefined });
    await tickUntil('the shortfall launched', () => alive() === 5);
    await tickUntil('the back-off to clear', () => loop.status.launchBackoff === undefined);
    expect(peak).toBe(5);
  }, 30_000);

  it('backs off throttled launches (RequestLimitExceeded) instead of retrying every tick, then launches', async () => {
    const { loop } = await start({ throttleEveryNth: 1, throttleActions: ['RunInstances'] });
    // The number of tries in three seconds is what shows the back-off.
    await advance(3000);
    const throttled = runInstancesCalls();
    // 0, 0.3, 0.9, 2.1 s at the least (x1-2 jitter): three or four tries in three seconds, where one per tick would be thirty.
    expect(throttled.every((c) => c.error === 'RequestLimitExceeded')).toBe(true);
    expect(throttled.length).toBeGreaterThanOrEqual(3);
    expect(throttled.length).toBeLessThanOrEqual(4);
    expect(alive()).toBe(0);
    expect(loop.status.launchBackoff?.reason).toMatch(/RequestLimitExceeded/);
    ec2?.setFaults({ throttleEveryNth: 0 });
    await tickUntil('the launches after the throttling', () => alive() === MAX_WORKERS);
    expect(peak).toBe(MAX_WORKERS);
  }, 30_000);

  it('backs off throttled ticks (DescribeInstances) and reports them on the status until they pass', async () => {
    const { loop } = await start({ throttleEveryNth: 1, throttleActions: ['DescribeInstances'] });
    // The number of ticks in three seconds is what shows the back-off.
    await advance(3000);
    const describes = (ec2?.calls ?? []).filter((c) => c.action === 'DescribeInstances');
    // 0.1, 0.2, 0.4, 0.8, 1.6 s (x1-2 jitter) apart: four or five, where one per tick would be thirty.
    expect(describes.length).toBeGreaterThanOrEqual(4);
    expect(describes.length).toBeLessThanOrEqual(5);
    expect(loop.status).toMatchObject({ lastTickOk: false, lastError: { message: expect.stringMatching(/RequestLimitExceeded/) } });
    expect(runInstancesCalls()).toHaveLength(0);
    ec2?.setFaults({ throttleEveryNth: 0 });
    await tickUntil('the launches after the throttling', () => alive() === MAX_WORKERS);
    await tickUntil('the status to report a good tick', () => loop.status.lastTickOk === true);
    expect(peak).toBe(MAX_WORKERS);
  }, 30_000);
});
