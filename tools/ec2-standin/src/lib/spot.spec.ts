import { DescribeInstancesCommand, EC2Client, RunInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { startEc2StandIn, type Ec2StandIn } from './ec2-standin';
import type { Ec2Faults } from './faults';

const TEMPLATE_ID = 'lt-0123456789abcdef5';
const SPOT = { InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } } } as const;

/** GET one metadata path the way an instance does (IMDSv2: token first). */
async function metadata(endpoint: string, path: string): Promise<{ status: number; body: string }> {
  const token = await (await fetch(`${endpoint}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
  const res = await fetch(`${endpoint}/latest/meta-data/${path}`, { headers: { 'X-aws-ec2-metadata-token': token } });
  return { status: res.status, body: await res.text() };
}

describe('EC2 stand-in: Spot instances', () => {
  let standIn: Ec2StandIn;
  let ec2: EC2Client;

  const start = async (faults: Partial<Ec2Faults> = {}, timeScale = 1) => {
    standIn = await startEc2StandIn({ bootSeconds: 0.05, timeScale, faults, launchTemplates: [{ id: TEMPLATE_ID, versions: [{ instanceType: 'c7g.large' }] }] });
    ec2 = new EC2Client({ region: standIn.region, endpoint: standIn.endpoint, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  };
  const run = (extra: Partial<RunInstancesCommandInput> = {}, count = 1) =>
    ec2.send(new RunInstancesCommand({ MinCount: count, MaxCount: count, LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID }, ...extra }));
  const errorOf = (p: Promise<unknown>) => p.then(() => 'succeeded', (e: { name: string; message: string }) => `${e.name}: ${e.message}`);

  afterEach(async () => {
    jest.useRealTimers();
    ec2?.destroy();
    await standIn?.stop();
  });

  it('launches Spot instances with InstanceMarketOptions: DescribeInstances shows InstanceLifecycle spot, on-demand ones none', async () => {
    await start();
    const spot = (await run(SPOT)).Instances?.[0];
    const onDemand = (await run()).Instances?.[0];
    expect(spot).toMatchObject({ InstanceLifecycle: 'spot', SpotInstanceRequestId: expect.stringMatching(/^sir-/), Architecture: 'arm64' });
    expect(onDemand?.InstanceLifecycle).toBeUndefined();
    const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-lifecycle', Values: ['spot'] }] }));
    expect(out.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, i.InstanceLifecycle])).toEqual([[spot?.InstanceId, 'spot']]);
    expect(standIn.instance(spot?.InstanceId as string)?.lifecycle).toBe('spot');
  });

  it('refuses Spot beyond the Spot capacity (on-demand still launches) and below the Spot price, with EC2 error codes', async () => {
    await start({ spotCapacity: 1, spotPrice: 0.03 });
    await run(SPOT);
    expect(await errorOf(run(SPOT))).toMatch(/^InsufficientInstanceCapacity: We currently do not have sufficient c7g.large capacity/);
    expect((await run()).Instances).toHaveLength(1);
    const cheap = { InstanceMarketOptions: { MarketType: 'spot' as const, SpotOptions: { MaxPrice: '0.01' } } };
    standIn.setFaults({ spotCapacity: undefined });
    expect(await errorOf(run(cheap))).toBe('SpotMaxPriceTooLow: Your Spot request price of 0.01 is lower than the minimum required Spot request fulfillment price of 0.03.');
    expect(standIn.calls.slice(-1)[0].error).toBe('SpotMaxPriceTooLow');
  });

  it('interrupts a Spot instance after EC2_SPOT_INTERRUPT_SECONDS: the metadata notice (404 before), then termination two scaled minutes later', async () => {
    // EC2's waits run on a virtual clock: boot, the 3 s to the notice and the 120 s / 300 = 0.4 s to the
    // termination pass when the test says so, to the millisecond, however loaded the machine is. HTTP and
    // the SDK stay real (they wait on I/O, not on these timers).
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
    await start({ spotInterruptSeconds: 3 }, 300);
    const id = (await run(SPOT)).Instances?.[0].InstanceId as string;
    const onDemandId = (await run()).Instances?.[0].InstanceId as string;
    const imds = standIn.instance(id)?.metadataEndpoint as string;
    await jest.advanceTimersByTimeAsync(50);
    expect(standIn.instance(id)?.state).toBe('running');
    const runningAt = standIn.instance(id)?.runningAt?.getTime() as number;
    expect(await metadata(imds, 'instance-life-cycle')).toEqual({ status: 200, body: 'spot' });

    // No notice a millisecond before the configured time, the notice at it.
    await jest.advanceTimersByTimeAsync(2999);
    expect((await metadata(imds, 'spot/instance-action')).status).toBe(404);
    await jest.advanceTimersByTimeAsync(1);
    const notice = await metadata(imds, 'spot/instance-action');
    expect(notice.status).toBe(200);
    const view = standIn.instance(id);
    expect(view?.interruption?.noticeAt.getTime()).toBe(runningAt + 3000);
    expect(view?.interruption && view.interruption.at.getTime() - view.interruption.noticeAt.getTime()).toBe(400);
    expect(JSON.parse(notice.body)).toEqual({ action: 'terminate', time: (view?.interruption?.at.toISOString() as string).replace(/\.\d{3}Z$/, 'Z') });
    expect(await metadata(imds, 'spot/termination-time')).toMatchObject({ status: 200 });

    // Still running until the scaled two minutes have passed, then terminated by EC2.
    await jest.advanceTimersByTimeAsync(399);
    expect(standIn.instance(id)?.state).toBe('running');
    await jest.advanceTimersByTimeAsync(1);
    expect(standIn.instance(id)?.state).toBe('terminated');
    expect(standIn.instance(id)?.stateReason).toBe('Server.SpotInstanceTermination');
    expect((standIn.instance(id)?.endedAt?.getTime() as number) - (view?.interruption?.noticeAt.getTime() as number)).toBe(400);
    // On-demand instances are never interrupted, and a test cannot interrupt them either.
    expect(standIn.instance(onDemandId)?.state).toBe('running');
    expect(standIn.interruptSpot(onDemandId)).toBe(false);
    expect((await metadata(standIn.instance(onDemandId)?.metadataEndpoint as string, 'spot/instance-action')).status).toBe(404);
  });
});
