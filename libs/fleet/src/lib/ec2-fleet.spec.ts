import {
  DescribeInstancesCommand,
  EC2Client,
  type InstanceStateName,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { RetryableError } from '@app/aws';
import { DEFAULT_USER_DATA, Ec2Fleet, InsufficientCapacityError } from './ec2-fleet';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'us-east-1' });
const ec2Settings = {
  instanceType: 't3.medium',
  securityGroupIds: [] as string[],
};

beforeEach(() => ec2Mock.reset());

describe('Ec2Fleet', () => {
  it('refuses to launch with neither launch template nor AMI, but still lists and terminates', async () => {
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: ec2Settings });
    await expect(fleet.launch(1)).rejects.toThrow('FLEET_PROVIDER=ec2 needs EC2_LAUNCH_TEMPLATE_ID or EC2_AMI_ID to launch workers');
    expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(0);
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await fleet.terminate('i-9');
    expect(ec2Mock.commandCalls(TerminateInstancesCommand)).toHaveLength(1);
  });

  it('launches n tagged workers from the launch template in one call', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({
      Instances: [
        { InstanceId: 'i-1', State: { Name: 'pending' }, LaunchTime: new Date('2026-11-25T10:00:00Z') },
        { InstanceId: 'i-2', State: { Name: 'pending' }, LaunchTime: new Date('2026-11-25T10:00:00Z') },
      ],
    });
    const fleet = new Ec2Fleet(ec2, { stackName: 'prod', ec2: { ...ec2Settings, launchTemplateId: 'lt-0abc' } });
    const launched = await fleet.launch(2);
    expect(launched.map((w) => [w.id, w.state])).toEqual([
      ['i-1', 'pending'],
      ['i-2', 'pending'],
    ]);
    const calls = ec2Mock.commandCalls(RunInstancesCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0].args[0].input;
    expect(input).toEqual({
      // Whatever capacity there is: one capacity error must not launch nothing.
      MinCount: 1,
      MaxCount: 2,
      ClientToken: expect.stringMatching(/^[0-9a-f-]{36}$/),
      LaunchTemplate: { LaunchTemplateId: 'lt-0abc', Version: '$Latest' },
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'Name', Value: 'prod-classifier-worker' },
            { Key: 'ics:stack', Value: 'prod' },
            { Key: 'ics:role', Value: 'classifier-worker' },
            { Key: 'ics:worker-state', Value: 'starting' },
          ],
        },
      ],
    });
  });

  it('launches from an AMI with IMDSv2 required, terminate-on-shutdown and user data', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [] });
    const fleet = new Ec2Fleet(ec2, {
      stackName: 'ics',
      ec2: {
        ...ec2Settings,
        amiId: 'ami-0123456789abcdef0',
        instanceProfile: 'ics-worker',
        securityGroupIds: ['sg-1'],
        subnetId: 'subnet-1',
      },
    });
    await fleet.launch(3);
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0].args[0].input;
    expect(input).toMatchObject({
      MinCount: 1,
      MaxCount: 3,
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: 't3.medium',
      IamInstanceProfile: { Name: 'ics-worker' },
      SecurityGroupIds: ['sg-1'],
      SubnetId: 'subnet-1',
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    });
    expect(Buffer.from(input.UserData ?? '', 'base64').toString()).toBe(DEFAULT_USER_DATA);
    expect(input.LaunchTemplate).toBeUndefined();
  });

  it('lists workers by stack tag and state across pages, with busy/free/stopping from their tag', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({
        Reservations: [
          {
            Instances: [
              { InstanceId: 'i-1', State: { Name: 'running' }, Tags: [{ Key: 'ics:worker-state', Value: 'busy' }] },
              { InstanceId: 'i-2', State: { Name: 'pending' } },
            ],
          },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        Reservations: [
          {
            Instances: [
              { InstanceId: 'i-3', State: { Name: 'running' }, Tags: [{ Key: 'ics:worker-state', Value: 'free' }] },
              { InstanceId: 'i-4', State: { Name: 'shutting-down' } },
              { InstanceId: 'i-5', State: { Name: 'running' }, Tags: [{ Key: 'ics:worker-state', Value: 'stopping' }] },
            ],
          },
        ],
      });
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1' } });
    const workers = await fleet.list();
    expect(workers.map((w) => [w.id, w.state, w.busy, w.workerState])).toEqual([
      ['i-1', 'running', true, 'busy'],
      ['i-2', 'pending', false, undefined],
      ['i-3', 'running', false, 'free'],
      ['i-4', 'terminating', false, undefined],
      // Running, but its worker is leaving (a Spot notice, or idle): not a free worker.
      ['i-5', 'terminating', false, 'stopping'],
    ]);
    const calls = ec2Mock.commandCalls(DescribeInstancesCommand);
    expect(calls.map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'page-2']);
    expect(calls[0].args[0].input.Filters).toEqual([
      { Name: 'tag:ics:stack', Values: ['ics'] },
      { Name: 'tag:ics:role', Values: ['classifier-worker'] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping'] },
    ]);
  });

  it('terminates one instance, and treats an unknown one as already gone', async () => {
    ec2Mock.on(TerminateInstancesCommand, { InstanceIds: ['i-1'] }).resolves({});
    ec2Mock
      .on(TerminateInstancesCommand, { InstanceIds: ['i-gone'] })
      .rejects(Object.assign(new Error('The instance ID does not exist'), { name: 'InvalidInstanceID.NotFound' }));
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1' } });
    await fleet.terminate('i-1');
    await fleet.terminate('i-gone');
    expect(ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceIds: ['i-1'] },
      { InstanceIds: ['i-gone'] },
    ]);
  });

  it('takes partial capacity: fewer instances than asked for is a short launch, not an error', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-1', State: { Name: 'pending' } }] });
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1' } });
    expect((await fleet.launch(4)).map((w) => w.id)).toEqual(['i-1']);
  });

  it('maps no capacity at all to an InsufficientCapacityError, which is retryable', async () => {
    ec2Mock.on(RunInstancesCommand).rejects(
      Object.assign(new Error('We currently do not have sufficient t3.medium capacity in the Availability Zone you requested.'), {
        name: 'InsufficientInstanceCapacity',
        $metadata: { httpStatusCode: 500 },
      }),
    );
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1' } });
    const err = await fleet.launch(2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientCapacityError);
    expect(err).toMatchObject({ retryable: true, operation: 'ec2.RunInstances' });
    expect((err as Error).message).toMatch(/^ec2.RunInstances: InsufficientInstanceCapacity: We currently do not have sufficient/);
  });

  it('repeats a launch whose outcome is unknown with the same client token, so EC2 launches it once', async () => {
    const lost = Object.assign(new Error('socket hang up'), { name: 'Error', code: 'ECONNRESET' });
    const throttled = Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } });
    ec2Mock
      .on(RunInstancesCommand)
      .rejectsOnce(lost)
      .resolvesOnce({ Instances: [{ InstanceId: 'i-1', State: { Name: 'pending' } }, { InstanceId: 'i-2', State: { Name: 'pending' } }] })
      .rejectsOnce(throttled)
      .resolves({ Instances: [] });
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1' } });
    await expect(fleet.launch(2)).rejects.toThrow(/ECONNRESET|socket hang up/);
    // Now 3 are wanted: the unsettled request for 2 goes first, as it was.
    expect((await fleet.launch(3)).map((w) => w.id)).toEqual(['i-1', 'i-2']);
    // Throttled: EC2 did nothing, so the next launch is a new request.
    await expect(fleet.launch(1)).rejects.toThrow(/RequestLimitExceeded/);
    await fleet.launch(1);
    const inputs = ec2Mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.MaxCount)).toEqual([2, 2, 1, 1]);
    expect(inputs[1].ClientToken).toBe(inputs[0].ClientToken);
    expect(inputs[2].ClientToken).not.toBe(inputs[1].ClientToken);
    expect(inputs[3].ClientToken).not.toBe(inputs[2].ClientToken);
  });

  it('does not repeat an unsettled launch bigger than what is wanted now (it could pass MAX_WORKERS)', async () => {
    ec2Mock
      .on(RunInstancesCommand)
      .rejectsOnce(Object.assign(new Error('An internal error has occurred'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } }))
      .resolves({ Instances: [] });
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1' } });
    await expect(fleet.launch(4)).rejects.toThrow(/InternalError/);
    await fleet.launch(1);
    const inputs = ec2Mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.MaxCount)).toEqual([4, 1]);
    expect(inputs[1].ClientToken).not.toBe(inputs[0].ClientToken);
  });

  it('spot-first asks for one-time Spot, falls back to on-demand on SpotMaxPriceTooLow with a new token, and logs why', async () => {
    ec2Mock
      .on(RunInstancesCommand)
      .rejectsOnce(
        Object.assign(new Error('Your Spot request price of 0.02 is lower than the minimum required Spot request fulfillment price of 0.03.'), {
          name: 'SpotMaxPriceTooLow',
          $metadata: { httpStatusCode: 400 },
        }),
      )
      .resolves({ Instances: [{ InstanceId: 'i-1', State: { Name: 'pending' } }] });
    const warn = jest.fn();
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1', capacity: 'spot-first' } }, { warn });
    expect((await fleet.launch(1)).map((w) => [w.id, w.capacity])).toEqual([['i-1', 'on-demand']]);
    const [spot, onDemand] = ec2Mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    expect(spot.InstanceMarketOptions).toEqual({ MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } });
    expect(onDemand.InstanceMarketOptions).toBeUndefined();
    expect(onDemand.ClientToken).not.toBe(spot.ClientToken);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^WORKER_CAPACITY=spot-first: launching 1 on-demand instead of Spot \(SpotMaxPriceTooLow: /));
  });

  it('spot-first does not fall back on errors on-demand would meet too (throttling)', async () => {
    ec2Mock.on(RunInstancesCommand).rejects(Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } }));
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1', capacity: 'spot-first' } }, { warn: jest.fn() });
    await expect(fleet.launch(1)).rejects.toBeInstanceOf(RetryableError);
    expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(1);
  });

  it('maps throttling to a RetryableError the scaling loop can wait out', async () => {
    ec2Mock
      .on(RunInstancesCommand)
      .rejects(Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } }));
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { ...ec2Settings, launchTemplateId: 'lt-1' } });
    await expect(fleet.launch(1)).rejects.toBeInstanceOf(RetryableError);
    await expect(fleet.launch(0)).rejects.toThrow('launch count must be a positive integer (got 0)');
  });
  it('status(): alive while pending or running, gone once shutting down or unknown; throttling is an error, not "gone"', async () => {
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: ec2Settings });
    const answer = (name: InstanceStateName) => ({ Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: name } }] }] });
    ec2Mock.on(DescribeInstancesCommand).resolvesOnce(answer('pending')).resolvesOnce(answer('running')).resolvesOnce(answer('shutting-down')).resolvesOnce(answer('terminated'));
    expect([await fleet.status('i-1'), await fleet.status('i-1'), await fleet.status('i-1'), await fleet.status('i-1')]).toEqual(['alive', 'alive', 'gone', 'gone']);
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0].args[0].input).toEqual({ InstanceIds: ['i-1'] });

    ec2Mock.reset();
    ec2Mock.on(DescribeInstancesCommand).rejects(Object.assign(new Error("The instance ID 'i-2' does not exist"), { name: 'InvalidInstanceID.NotFound', $metadata: { httpStatusCode: 400 } }));
    expect(await fleet.status('i-2')).toBe('gone');

    ec2Mock.reset();
    ec2Mock.on(DescribeInstancesCommand).rejects(Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } }));
    await expect(fleet.status('i-1')).rejects.toBeInstanceOf(RetryableError);
  });

  it('statuses(): many workers in one DescribeInstances (by filter, so an unknown id fails nothing), 200 ids a call', async () => {
    const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: ec2Settings });
    const ids = Array.from({ length: 250 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
    ec2Mock.on(DescribeInstancesCommand).callsFake((input: { Filters?: { Values?: string[] }[] }) => ({
      Reservations: [
        {
          Instances: (input.Filters?.[0]?.Values ?? [])
            .filter((id) => id !== ids[3]) // never existed, or long gone: not returned
            .map((id) => ({ InstanceId: id, State: { Name: id === ids[7] ? 'shutting-down' : 'running' } })),
        },
      ],
    }));
    const out = await fleet.statuses(ids);
    expect([out.get(ids[0]), out.get(ids[3]), out.get(ids[7]), out.get(ids[249])]).toEqual(['alive', 'gone', 'gone', 'alive']);
    const calls = ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input.Filters?.[0]);
    expect(calls.map((f) => [f?.Name, f?.Values?.length])).toEqual([['instance-id', 200], ['instance-id', 50]]);
  });
});
