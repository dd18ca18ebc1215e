import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { AwsAdapterError, call, NotFoundError, RetryableError, UnreachableError } from '@app/aws';
import type { ScalingSettings } from '@app/config';
import { ROLE_TAG, STACK_TAG, WORKER_ROLE, WORKER_STATE_TAG, WORKER_STATES, type WorkerState } from '@app/contracts';
import { Fleet, type InstanceState, type WorkerInstance, type WorkerLiveness } from './fleet';

/** Used only without a launch template: the AMI has the worker installed as a systemd unit. */
export const DEFAULT_USER_DATA = '#!/bin/bash\nsystemctl enable --now classifier-worker.service\n';

const ALIVE_STATES: Record<string, InstanceState> = {
  pending: 'pending',
  running: 'running',
  'shutting-down': 'terminating',
  stopping: 'terminating',
};

/** EC2 codes for "not enough of this instance type here right now": worth another try later. */
const CAPACITY_CODES = new Set(['InsufficientInstanceCapacity', 'InsufficientCapacity', 'InsufficientHostCapacity']);

/** A Spot launch that on-demand can still serve: no Spot capacity now, or the Spot price above the maximum. */
const SPOT_FALLBACK_CODES = new Set([...CAPACITY_CODES, 'SpotMaxPriceTooLow', 'MaxSpotInstanceCountExceeded']);

/** A one-time Spot instance that terminates on interruption (the worker hands its images back on the notice). */
export const SPOT_MARKET_OPTIONS = {
  MarketType: 'spot',
  SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
} as const satisfies RunInstancesCommandInput['InstanceMarketOptions'];

type Market = 'spot' | 'on-demand';

/** EC2 had no capacity for even one worker; the launch can be tried again later. */
export class InsufficientCapacityError extends RetryableError {}

/** Errors after which EC2 may or may not have launched: no answer, or a failure on its side. */
const OUTCOME_UNKNOWN = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable', 'RequestTimeout']);

/** Workers as EC2 instances, found by this stack's tags. */
export class Ec2Fleet extends Fleet {
  /** A RunInstances whose outcome is unknown: the next launch repeats it (same token and market), so EC2 launches it at most once. */
  private unsettled?: { token: string; count: number; market: Market };

  constructor(
    private readonly ec2: EC2Client,
    private readonly settings: Pick<ScalingSettings, 'stackName' | 'ec2'>,
    private readonly logger: Pick<Logger, 'warn'> = new Logger('Ec2Fleet'),
  ) {
    super();
  }

  /** Launching needs a template or an AMI; listing and terminating (the monitor controller) do not. */
  static assertCanLaunch(settings: Pick<ScalingSettings, 'ec2'>): void {
    if (!settings.ec2.launchTemplateId && !settings.ec2.amiId) {
      throw new Error('FLEET_PROVIDER=ec2 needs EC2_LAUNCH_TEMPLATE_ID or EC2_AMI_ID to launch workers');
    }
  }

  /**
   * Launches up to `count` workers, taking whatever capacity there is
   * (MinCount 1): fewer than `count` when EC2 is short of capacity, and an
   * InsufficientCapacityError when not even one could start. After a call
   * whose outcome is unknown (no answer, an error on EC2's side), the next
   * launch repeats it with the same client token, so that EC2 answers with
   * the instances it did launch rather than launching more.
   */
  async launch(count: number): Promise<WorkerInstance[]> {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`launch count must be a positive integer (got ${count})`);
    Ec2Fleet.assertCanLaunch(this.settings);
    const capacity = this.settings.ec2.capacity ?? 'on-demand';
    if (capacity !== 'spot-first') return this.run(count, capacity);
    // WORKER_CAPACITY=spot-first: Spot where EC2 has it, on-demand for the rest (the images must not wait for Spot).
    let spot: WorkerInstance[] = [];
    let why: string;
    try {
      spot = await this.run(count, 'spot');
      if (spot.length >= count) return spot;
      why = `Spot capacity for ${spot.length} of ${count}`;
    } catch (err) {
      const code = codeOf(err);
      if (!SPOT_FALLBACK_CODES.has(code)) throw err;
      why = `${code}: ${(err as Error).message}`;
    }
    const rest = count - spot.length;
    this.logger.warn(`WORKER_CAPACITY=spot-first: launching ${rest} on-demand instead of Spot (${why})`);
    if (spot.length === 0) return this.run(rest, 'on-demand');
    // Some Spot workers did start: an on-demand failure now must not hide them from the caller.
    return [...spot, ...(await this.run(rest, 'on-demand').catch(() => []))];
  }

  private async run(count: number, market: Market): Promise<WorkerInstance[]> {
    // Repeat an unsettled request only when it asks for no more than now wanted, in the same market.
    const repeat = this.unsettled && this.unsettled.count <= count && this.unsettled.market === market ? this.unsettled : undefined;
    this.unsettled = undefined;
    const token = repeat?.token ?? randomUUID();
    const maxCount = repeat?.count ?? count;
    const e = this.settings.ec2;
    const tags = [
      { Key: 'Name', Value: `${this.settings.stackName}-classifier-worker` },
      { Key: STACK_TAG, Value: this.settings.stackName },
      { Key: ROLE_TAG, Value: WORKER_ROLE },
      { Key: WORKER_STATE_TAG, Value: 'starting' },
    ];
    const input: RunInstancesCommandInput = {
      MinCount: 1,
      MaxCount: maxCount,
      // The same token on a retried call makes EC2 launch once, not twice.
      ClientToken: token,
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
    };
    if (market === 'spot') input.InstanceMarketOptions = SPOT_MARKET_OPTIONS;
    if (e.launchTemplateId) {
      input.LaunchTemplate = { LaunchTemplateId: e.launchTemplateId, Version: e.launchTemplateVersion ?? '$Latest' };
    } else {
      Object.assign(input, {
        ImageId: e.amiId,
        InstanceType: e.instanceType,
        IamInstanceProfile: e.instanceProfile ? { Name: e.instanceProfile } : undefined,
        SecurityGroupIds: e.securityGroupIds.length ? e.securityGroupIds : undefined,
        SubnetId: e.subnetId,
        KeyName: e.keyName,
        UserData: Buffer.from(DEFAULT_USER_DATA).toString('base64'),
        InstanceInitiatedShutdownBehavior: 'terminate',
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      });
    }
    const out = await call('ec2.RunInstances', () => this.ec2.send(new RunInstancesCommand(input))).catch((err: unknown) => {
      const code = codeOf(err);
      if (CAPACITY_CODES.has(code)) throw new InsufficientCapacityError((err as Error).message, 'ec2.RunInstances', { cause: err });
      if (err instanceof UnreachableError || OUTCOME_UNKNOWN.has(code)) this.unsettled = { token, count: maxCount, market };
      throw err;
    });
    return (out.Instances ?? []).map(toWorker).filter((w): w is WorkerInstance => w !== undefined);
  }

  async list(): Promise<WorkerInstance[]> {
    const workers: WorkerInstance[] = [];
    let token: string | undefined;
    do {
      const out = await call('ec2.DescribeInstances', () =>
        this.ec2.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: `tag:${STACK_TAG}`, Values: [this.settings.stackName] },
              { Name: `tag:${ROLE_TAG}`, Values: [WORKER_ROLE] },
              { Name: 'instance-state-name', Values: Object.keys(ALIVE_STATES) },
            ],
            NextToken: token,
          }),
        ),
      );
      for (const r of out.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
          const w = toWorker(i);
          if (w) workers.push(w);
        }
      }
      token = out.NextToken;
    } while (token);
    return workers;
  }

  /**
   * Alive while pending or running. Shutting-down counts as gone: the machine
   * is going away, so its images are re-queued now (should its worker still
   * finish one, the first result written wins).
   */
  override async status(id: string): Promise<WorkerLiveness> {
    try {
      const out = await call('ec2.DescribeInstances', () => this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
      const state = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id)?.State?.Name;
      return state === 'pending' || state === 'running' ? 'alive' : 'gone';
    } catch (err) {
      if (err instanceof NotFoundError) return 'gone'; // InvalidInstanceID.NotFound: never was, or long gone
      throw err;
    }
  }

  /**
   * One DescribeInstances for many ids, by the `instance-id` filter (with
   * InstanceIds one unknown id would fail the whole call); an id it does not
   * return is gone. EC2 takes at most 200 filter values: larger sets are split.
   */
  override async statuses(ids: readonly string[]): Promise<Map<string, WorkerLiveness>> {
    const out = new Map<string, WorkerLiveness>(ids.map((id) => [id, 'gone']));
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      let token: string | undefined;
      do {
        const page = await call('ec2.DescribeInstances', () =>
          this.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [...chunk] }], NextToken: token })),
        );
        for (const inst of page.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) {
          const state = inst.State?.Name;
          if (inst.InstanceId && (state === 'pending' || state === 'running')) out.set(inst.InstanceId, 'alive');
        }
        token = page.NextToken;
      } while (token);
    }
    return out;
  }

  async terminate(id: string): Promise<void> {
    try {
      await call('ec2.TerminateInstances', () => this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })));
    } catch (err) {
      if (err instanceof NotFoundError) return; // already gone
      throw err;
    }
  }
}

/** The EC2 error code behind an adapter error, however deeply wrapped: the first SDK error in the cause chain. */
function codeOf(err: unknown): string {
  let e = err;
  // Our own wrappers (the adapter's typed errors, InsufficientCapacityError) each keep the error below as `cause`.
  for (let depth = 0; e instanceof AwsAdapterError && depth < 5; depth++) e = e.cause;
  const sdk = e as { Code?: string; name?: string } | undefined;
  return sdk?.Code ?? sdk?.name ?? '';
}

function toWorker(i: Instance): WorkerInstance | undefined {
  const state = ALIVE_STATES[i.State?.Name ?? ''];
  if (!i.InstanceId || !state) return undefined;
  const tag = i.Tags?.find((t) => t.Key === WORKER_STATE_TAG)?.Value;
  const workerState = (WORKER_STATES as readonly string[]).includes(tag ?? '') ? (tag as WorkerState) : undefined;
  return {
    id: i.InstanceId,
    // A worker that says it is stopping (idle, or handing back on a Spot notice) takes no more work: it
    // is on its way out, as the local fleet counts it, not a free worker that would drain the backlog.
    state: workerState === 'stopping' && state === 'running' ? 'terminating' : state,
    launchedAt: i.LaunchTime ?? new Date(),
    workerState,
    busy: workerState === 'busy',
    capacity: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
  };
}
