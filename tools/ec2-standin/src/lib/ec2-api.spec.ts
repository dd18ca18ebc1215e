import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  paginateDescribeInstances,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { Ec2Fleet } from '@app/fleet';
import { until } from '@tools/testing/eventually';
import { startEc2StandIn, type Ec2StandIn } from './ec2-standin';

const TEMPLATE_ID = 'lt-0123456789abcdef0';

function clientOf(standIn: Ec2StandIn, maxAttempts = 1): EC2Client {
  return new EC2Client({
    region: standIn.region,
    endpoint: standIn.endpoint,
    credentials: { accessKeyId: 'standin', secretAccessKey: 'standin' },
    maxAttempts,
  });
}

function fleetOf(ec2: EC2Client, stackName = 'ics'): Ec2Fleet {
  return new Ec2Fleet(ec2, {
    stackName,
    ec2: { launchTemplateId: TEMPLATE_ID, launchTemplateVersion: '$Latest', instanceType: 't3.medium', securityGroupIds: [] },
  });
}

/** What the SDK threw: its error code and HTTP status, as a caller sees them. */
async function sdkError(p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('the call succeeded');
}

/** Everything but Date: with these real, a test moves EC2's clock (Date.now) by hand while HTTP, the SDK and boot timers run as usual. */
const REAL_TIMERS = ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] as const;

const allIds = (reservations: { Instances?: Instance[] }[] | undefined) => (reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId));

describe('EC2 stand-in through the real AWS SDK', () => {
  let standIn: Ec2StandIn;
  let ec2: EC2Client;

  beforeEach(async () => {
    standIn = await startEc2StandIn({
      bootSeconds: 0.2,
      launchTemplates: [{ id: TEMPLATE_ID, name: 'ics-worker', versions: [{ imageId: 'ami-0aaaaaaaaaaaaaaaa', instanceType: 't3.medium', shutdownBehavior: 'terminate' }] }],
    });
    ec2 = clientOf(standIn);
  });

  afterEach(async () => {
    ec2.destroy();
    await standIn.stop();
  });

  it('Ec2Fleet launches tagged workers from the template, lists them pending then running, and terminates one', async () => {
    const fleet = fleetOf(ec2);
    const launched = await fleet.launch(3);
    expect(launched).toHaveLength(3);
    expect(launched.every((w) => /^i-[0-9a-f]{17}$/.test(w.id) && w.state === 'pending' && w.workerState === 'starting')).toBe(true);
    expect((await fleet.list()).map((w) => w.id).sort()).toEqual(launched.map((w) => w.id).sort());

    await until('all running', async () => (await fleet.list()).every((w) => w.state === 'running'));
    await fleet.terminate(launched[0].id);
    // Without a worker process, shutting-down ends at once; the fleet no longer lists it.
    await until('terminated', () => standIn.instance(launched[0].id)?.state === 'terminated');
    expect((await fleet.list()).map((w) => w.id).sort()).toEqual(launched.slice(1).map((w) => w.id).sort());
    expect(standIn.instance(launched[0].id)?.stateReason).toBe('Client.UserInitiatedShutdown');

    // Another stack's fleet sees none of them.
    expect(await fleetOf(ec2, 'other').list()).toEqual([]);
    // Terminating one that is already gone, or never existed, is not an error for the fleet.
    await expect(fleet.terminate(launched[0].id)).resolves.toBeUndefined();
    await expect(fleet.terminate('i-00000000000000000')).resolves.toBeUndefined();
  });

  it('answers RunInstances as EC2 does: reservation, state, template tags, launch template resolved by name and version', async () => {
    const out = await ec2.send(
      new RunInstancesCommand({
        MinCount: 2,
        MaxCount: 2,
        LaunchTemplate: { LaunchTemplateName: 'ics-worker', Version: '1' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'team', Value: 'vision' }] }],
      }),
    );
    expect(out.ReservationId).toMatch(/^r-[0-9a-f]{17}$/);
    expect(out.OwnerId).toBe('000000000000');
    expect(out.Instances).toHaveLength(2);
    const [a, b] = out.Instances as Instance[];
    expect(a.State).toEqual({ Code: 0, Name: 'pending' });
    expect([a.AmiLaunchIndex, b.AmiLaunchIndex]).toEqual([0, 1]);
    expect(a.ImageId).toBe('ami-0aaaaaaaaaaaaaaaa');
    expect(a.InstanceType).toBe('t3.medium');
    expect(a.LaunchTime).toBeInstanceOf(Date);
    // The SDK made up a client token, as it does for every RunInstances.
    expect(a.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.Placement?.AvailabilityZone).toBe('us-east-1a');
    expect(Object.fromEntries((a.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      team: 'vision',
      'aws:ec2launchtemplate:id': TEMPLATE_ID,
      'aws:ec2launchtemplate:version': '1',
    });

    // Without filters, DescribeInstances lists everything (what `aws ec2 describe-instances` shows).
    const all = await ec2.send(new DescribeInstancesCommand({}));
    expect(all.Reservations).toHaveLength(1);
    expect(allIds(all.Reservations).sort()).toEqual([a.InstanceId, b.InstanceId].sort());
  });

  it('refuses what EC2 refuses, with its error codes', async () => {
    const run = (input: Partial<ConstructorParameters<typeof RunInstancesCommand>[0]>) =>
      sdkError(ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, ...input })));
    expect(await run({ LaunchTemplate: { LaunchTemplateId: 'lt-0ffffffffffffffff' } })).toMatchObject({ name: 'InvalidLaunchTemplateId.NotFound', status: 400 });
    expect(await run({ LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID, Version: '7' } })).toMatchObject({ name: 'InvalidLaunchTemplateId.VersionNotFound' });
    expect(await run({ LaunchTemplate: { LaunchTemplateName: 'nope' } })).toMatchObject({ name: 'InvalidLaunchTemplateName.NotFoundException' });
    expect(await run({})).toMatchObject({ name: 'MissingParameter', message: 'The request must contain the parameter ImageId' });
    expect(await run({ ImageId: 'ami-0aaaaaaaaaaaaaaaa', MinCount: 3, MaxCount: 2 })).toMatchObject({ name: 'InvalidParameterValue' });
    expect(
      await run({ ImageId: 'ami-0aaaaaaaaaaaaaaaa', TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'aws:mine', Value: 'x' }] }] }),
    ).toMatchObject({ name: 'InvalidParameterValue' });
    expect(await run({ ImageId: 'ami-0aaaaaaaaaaaaaaaa', DryRun: true })).toMatchObject({ name: 'DryRunOperation', status: 412 });
    expect(await sdkError(ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-00000000000000000'] })))).toMatchObject({
      name: 'InvalidInstanceID.NotFound',
      message: "The instance ID 'i-00000000000000000' does not exist",
    });
    expect(await sdkError(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['bogus'] })))).toMatchObject({ name: 'InvalidInstanceID.Malformed' });
    expect(await sdkError(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] })))).toMatchObject({
      name: 'InvalidParameterValue',
      message: "The filter 'colour' is invalid",
    });
    // Nothing was launched by any of them.
    expect(standIn.instances()).toEqual([]);
  });

  it('filters by tag, state and id, with wildcards; CreateTags changes what the filters see', async () => {
    const fleet = fleetOf(ec2);
    const [w1, w2] = await fleet.launch(2);
    const [other] = await fleetOf(ec2, 'other').launch(1);
    await ec2.send(new CreateTagsCommand({ Resources: [w1.id], Tags: [{ Key: 'ics:worker-state', Value: 'busy' }] }));
    const ids = async (filters: { Name: string; Values: string[] }[], instanceIds?: string[]) =>
      allIds((await ec2.send(new DescribeInstancesCommand({ Filters: filters, InstanceIds: instanceIds }))).Reservations).sort();

    expect(await ids([{ Name: 'tag:ics:stack', Values: ['ics'] }])).toEqual([w1.id, w2.id].sort());
    expect(await ids([{ Name: 'tag:ics:stack', Values: ['ic*'] }])).toEqual([w1.id, w2.id].sort());
    expect(await ids([{ Name: 'tag:ics:stack', Values: ['ics', 'other'] }])).toEqual([w1.id, w2.id, other.id].sort());
    expect(await ids([{ Name: 'tag:ics:worker-state', Values: ['busy'] }])).toEqual([w1.id]);
    expect(await ids([{ Name: 'tag-key', Values: ['ics:role'] }])).toHaveLength(3);
    expect(await ids([{ Name: 'instance-id', Values: [w2.id] }])).toEqual([w2.id]);
    expect(await ids([], [w1.id, other.id])).toEqual([w1.id, other.id].sort());
    expect(await ids([{ Name: 'tag:ics:stack', Values: ['ics'] }], [w1.id, other.id])).toEqual([w1.id]);
    expect((await fleet.list()).find((w) => w.id === w1.id)).toMatchObject({ busy: true, workerState: 'busy' });

    await fleet.terminate(w2.id);
    await until('terminated', () => standIn.instance(w2.id)?.state === 'terminated');
    expect(await ids([{ Name: 'instance-state-name', Values: ['terminated'] }])).toEqual([w2.id]);
    expect(await ids([{ Name: 'instance-state-code', Values: ['48'] }])).toEqual([w2.id]);
    expect(await ids([{ Name: 'instance-state-name', Values: ['pending', 'running'] }])).toEqual([w1.id, other.id].sort());
  });

  it('pages DescribeInstances by MaxResults with a NextToken that stays right while instances come and go', async () => {
    const fleet = fleetOf(ec2);
    const launched = [...(await fleet.launch(7)), ...(await fleet.launch(5))];
    const pages: string[][] = [];
    for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, {})) pages.push(allIds(page.Reservations) as string[]);
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(pages.flat().sort()).toEqual(launched.map((w) => w.id).sort());

    // Ec2Fleet.list follows NextToken itself (real EC2 may page even without MaxResults).
    const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    expect(first.NextToken).toBeDefined();
    const late = await fleet.launch(1);
    const rest = await ec2.send(new DescribeInstancesCommand({ MaxResults: 1000, NextToken: first.NextToken }));
    expect(allIds(rest.Reservations)).toEqual([...launched.slice(5).map((w) => w.id), late[0].id]);
    expect(rest.NextToken).toBeUndefined();

    expect(await sdkError(ec2.send(new DescribeInstancesCommand({ MaxResults: 3 })))).toMatchObject({ name: 'InvalidParameterValue' });
    expect(await sdkError(ec2.send(new DescribeInstancesCommand({ MaxResults: 5, InstanceIds: [launched[0].id] })))).toMatchObject({
      name: 'InvalidParameterCombination',
    });
    expect(await sdkError(ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: 'garbage' })))).toMatchObject({ name: 'InvalidParameterValue' });
  });

  it('launches once per client token: a retry answers the same reservation, other parameters with the same token are refused', async () => {
    const input = { MinCount: 2, MaxCount: 2, LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID }, ClientToken: 'retry-me-1' };
    const first = await ec2.send(new RunInstancesCommand(input));
    const again = await ec2.send(new RunInstancesCommand(input));
    expect(again.ReservationId).toBe(first.ReservationId);
    expect((again.Instances ?? []).map((i) => i.InstanceId)).toEqual((first.Instances ?? []).map((i) => i.InstanceId));
    expect(standIn.instances()).toHaveLength(2);
    expect(await sdkError(ec2.send(new RunInstancesCommand({ ...input, MaxCount: 3 })))).toMatchObject({ name: 'IdempotentParameterMismatch' });
    // A new token is a new launch.
    await ec2.send(new RunInstancesCommand({ ...input, ClientToken: 'retry-me-2' }));
    expect(standIn.instances()).toHaveLength(4);
  });
});

describe('EC2 stand-in faults', () => {
  let standIn: Ec2StandIn;
  const clients: EC2Client[] = [];
  const client = (maxAttempts = 1) => {
    const c = clientOf(standIn, maxAttempts);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    standIn = await startEc2StandIn({ bootSeconds: 0.1, launchTemplates: [{ id: TEMPLATE_ID, versions: [{ shutdownBehavior: 'terminate' }] }] });
  });

  afterEach(async () => {
    jest.useRealTimers();
    for (const c of clients.splice(0)) c.destroy();
    await standIn.stop();
  });

  it('describe lag: new instances are missing from DescribeInstances (and NotFound by id) until the lag has passed', async () => {
    // The lag is measured on a virtual clock (only Date is faked): the checks inside it cannot run late on a busy machine.
    jest.useFakeTimers({ now: Date.now(), doNotFake: [...REAL_TIMERS] });
    standIn.setFaults({ describeLagSeconds: 0.6 });
    const fleet = fleetOf(client());
    const [w] = await fleet.launch(1);
    expect(await fleet.list()).toEqual([]);
    expect(await sdkError(client().send(new DescribeInstancesCommand({ InstanceIds: [w.id] })))).toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    jest.setSystemTime(Date.now() + 599);
    expect(await fleet.list()).toEqual([]);
    jest.setSystemTime(Date.now() + 1);
    expect((await fleet.list()).map((i) => i.id)).toEqual([w.id]);
    expect((await client().send(new DescribeInstancesCommand({ InstanceIds: [w.id] }))).Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(w.id);
  });

  it('capacity: a request beyond it launches what fits when that meets MinCount, else InsufficientInstanceCapacity', async () => {
    standIn.setFaults({ capacity: 3 });
    const ec2 = client();
    const partial = await ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 5, LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID } }));
    expect(partial.Instances).toHaveLength(3);

    const refused = await sdkError(ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID } })));
    expect(refused).toMatchObject({ name: 'InsufficientInstanceCapacity', status: 500 });
    expect(refused.message).toContain('We currently do not have sufficient m1.small capacity');
    // Ec2Fleet gets nothing when nothing fits.
    await expect(fleetOf(ec2).launch(2)).rejects.toThrow(/InsufficientInstanceCapacity/);
    expect(standIn.instances()).toHaveLength(3);

    // Terminated instances give their capacity back.
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [partial.Instances?.[0].InstanceId as string] }));
    await until('terminated', () => standIn.instances().some((i) => i.state === 'terminated'));
    const more = await ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 4, LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID } }));
    expect(more.Instances).toHaveLength(1);
  });

  it('throttling: every Nth call gets RequestLimitExceeded (HTTP 503), which the SDK retries on its own', async () => {
    standIn.setFaults({ throttleEveryNth: 2 });
    const once = client(1);
    await once.send(new DescribeInstancesCommand({}));
    expect(await sdkError(once.send(new DescribeInstancesCommand({})))).toMatchObject({ name: 'RequestLimitExceeded', status: 503 });
    // Ec2Fleet's callers see a typed retryable error.
    await once.send(new DescribeInstancesCommand({}));
    await expect(fleetOf(once).list()).rejects.toThrow(/RequestLimitExceeded/);
    const codes = standIn.calls.map((c) => c.error ?? 'ok');
    expect(codes).toEqual(['ok', 'RequestLimitExceeded', 'ok', 'RequestLimitExceeded']);

    // The SDK's standard retry (what the apps use) gets through a throttled call.
    standIn.setFaults({ throttleEveryNth: 0 });
    standIn.throttleNext(1);
    await expect(client(3).send(new DescribeInstancesCommand({}))).resolves.toBeDefined();
  });

  it('throttling: a token bucket lets a burst through, then refuses until it refills; only the named actions', async () => {
    // The bucket refills by the clock: a virtual one (only Date is faked; timers and HTTP stay real), so the
    // burst happens at one instant however slow the machine, and the refill comes exactly when it is due.
    jest.useFakeTimers({ now: Date.now(), doNotFake: [...REAL_TIMERS] });
    standIn.setFaults({ throttleBucket: { size: 3, refillPerSecond: 5 }, throttleActions: ['RunInstances'] });
    const ec2 = client(1);
    const run = () => ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID } }));
    for (let n = 0; n < 3; n++) await run();
    expect(await sdkError(run())).toMatchObject({ name: 'RequestLimitExceeded' });
    // Describe is not throttled.
    for (let n = 0; n < 5; n++) await ec2.send(new DescribeInstancesCommand({}));
    // 5 calls a second: half a token after 100 ms is still no call, a whole one by 250 ms is.
    jest.setSystemTime(Date.now() + 100);
    expect(await sdkError(run())).toMatchObject({ name: 'RequestLimitExceeded' });
    jest.setSystemTime(Date.now() + 150);
    await expect(run()).resolves.toBeDefined();
    expect(standIn.instances()).toHaveLength(4);
  });

  it('TerminateInstances of an unknown id is InvalidInstanceID.NotFound on the wire, which Ec2Fleet.terminate takes as already gone', async () => {
    const ec2 = client();
    expect(await sdkError(ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })))).toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    const fleet = fleetOf(ec2);
    await expect(fleet.terminate('i-0123456789abcdef0')).resolves.toBeUndefined();
    expect(standIn.calls.filter((c) => c.action === 'TerminateInstances').map((c) => c.error)).toEqual(['InvalidInstanceID.NotFound', 'InvalidInstanceID.NotFound']);
  });
});
