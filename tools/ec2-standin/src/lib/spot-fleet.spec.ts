import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { WorkerCapacityKind } from '@app/config';
import { Ec2Fleet, InsufficientCapacityError } from '@app/fleet';
import { startEc2StandIn, type Ec2StandIn } from './ec2-standin';

const TEMPLATE_ID = 'lt-0123456789abcdef6';

/** The fleet's WORKER_CAPACITY settings through the real SDK against the stand-in's Spot market. */
describe('Ec2Fleet on Spot (EC2 stand-in)', () => {
  let standIn: Ec2StandIn;
  let ec2: EC2Client;
  let warnings: string[];

  const fleetOf = (capacity: WorkerCapacityKind) =>
    new Ec2Fleet(
      ec2,
      { stackName: 'ics', ec2: { launchTemplateId: TEMPLATE_ID, instanceType: 'c7g.large', securityGroupIds: [], capacity } },
      { warn: (m: unknown) => void warnings.push(String(m)) },
    );
  const lifecycles = async () => {
    const out = await ec2.send(new DescribeInstancesCommand({}));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceLifecycle ?? 'on-demand');
  };

  beforeEach(async () => {
    warnings = [];
    standIn = await startEc2StandIn({ bootSeconds: 0.05, launchTemplates: [{ id: TEMPLATE_ID, versions: [{ instanceType: 'c7g.large' }] }] });
    ec2 = new EC2Client({ region: standIn.region, endpoint: standIn.endpoint, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  });

  afterEach(async () => {
    ec2.destroy();
    await standIn.stop();
  });

  it('WORKER_CAPACITY=spot launches Spot workers, which the fleet lists as spot', async () => {
    const launched = await fleetOf('spot').launch(2);
    expect(launched.map((w) => w.capacity)).toEqual(['spot', 'spot']);
    expect(await lifecycles()).toEqual(['spot', 'spot']);
    expect((await fleetOf('spot').list()).map((w) => w.capacity)).toEqual(['spot', 'spot']);
  });

  it('WORKER_CAPACITY=spot fails with a retryable capacity error when EC2 has no Spot capacity; on-demand is not tried', async () => {
    standIn.setFaults({ spotCapacity: 0 });
    await expect(fleetOf('spot').launch(1)).rejects.toBeInstanceOf(InsufficientCapacityError);
    expect(await lifecycles()).toEqual([]);
  });

  it('spot-first falls back to on-demand on InsufficientInstanceCapacity, and says why', async () => {
    standIn.setFaults({ spotCapacity: 0 });
    const launched = await fleetOf('spot-first').launch(2);
    expect(launched.map((w) => w.capacity)).toEqual(['on-demand', 'on-demand']);
    expect(await lifecycles()).toEqual(['on-demand', 'on-demand']);
    expect(warnings).toEqual([expect.stringMatching(/^WORKER_CAPACITY=spot-first: launching 2 on-demand instead of Spot \(InsufficientInstanceCapacity: /)]);
    expect(standIn.calls.filter((c) => c.action === 'RunInstances').map((c) => c.error)).toEqual(['InsufficientInstanceCapacity', undefined]);
  });

  it('spot-first takes the Spot capacity there is and launches the rest on-demand', async () => {
    standIn.setFaults({ spotCapacity: 1 });
    const launched = await fleetOf('spot-first').launch(3);
    expect(launched.map((w) => w.capacity)).toEqual(['spot', 'on-demand', 'on-demand']);
    expect(warnings).toEqual(['WORKER_CAPACITY=spot-first: launching 2 on-demand instead of Spot (Spot capacity for 1 of 3)']);
  });

  it('spot-first with Spot available launches Spot only and logs nothing', async () => {
    const launched = await fleetOf('spot-first').launch(2);
    expect(launched.map((w) => w.capacity)).toEqual(['spot', 'spot']);
    expect(warnings).toEqual([]);
  });
});
