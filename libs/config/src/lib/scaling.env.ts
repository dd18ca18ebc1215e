import { Transform } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { toInt, toList, toNumber } from './env-helpers';

export const FLEET_PROVIDERS = ['local', 'ec2'] as const;
/** `work-per-worker`: size the fleet by what each worker can take and finish; `one-per-message`: the old rule. */
export const SCALING_POLICIES = ['work-per-worker', 'one-per-message'] as const;
/** `spot-first`: Spot, and on-demand when EC2 has no Spot capacity or the Spot price is above the maximum. */
export const WORKER_CAPACITIES = ['on-demand', 'spot', 'spot-first'] as const;
export type WorkerCapacityKind = (typeof WORKER_CAPACITIES)[number];

/** launch-controller, monitor-controller and libs/fleet variables. */
export class ScalingEnvironment {
  /** `local`: worker processes on this machine; `ec2`: instances. */
  @IsIn(FLEET_PROVIDERS) FLEET_PROVIDER: (typeof FLEET_PROVIDERS)[number] = 'local';
  /** `work-per-worker`: launch only for work the fleet there will not finish before a new worker boots; `one-per-message`: one worker per TARGET_BACKLOG_PER_WORKER messages. */
  @IsIn(SCALING_POLICIES) SCALING_POLICY: (typeof SCALING_POLICIES)[number] = 'work-per-worker';
  /** one-per-message policy only: one worker per this many messages. */
  @Transform(toInt) @Max(1000) @Min(1) @IsInt() TARGET_BACKLOG_PER_WORKER = 1;
  /**
   * work-per-worker policy: seconds from launch to a worker taking work (instance boot + model load).
   * Default: 30 for EC2 instances, 3 for local processes (model load only).
   */
  @IsOptional() @Transform(toNumber) @Max(3600) @Min(0) @IsNumber() WORKER_BOOT_SECONDS?: number;
  /** work-per-worker policy: seconds one worker spends on one image (measure it from a run's output rate). */
  @Transform(toNumber) @Max(3600) @Min(0.001) @IsNumber() IMAGE_SECONDS = 0.2;
  /** work-per-worker policy: images one worker works on at once. */
  @Transform(toInt) @Max(64) @Min(1) @IsInt() WORKER_CONCURRENCY = 1;
  /** A launched worker the fleet does not list yet (EC2's describe lag) counts as pending for at most this long. */
  @Transform(toInt) @Max(3600) @Min(1) @IsInt() LAUNCH_IN_FLIGHT_SECONDS = 120;
  /** After a failed or short launch, wait this long (ms) before launching again, doubling up to the maximum. */
  @Transform(toInt) @Max(600_000) @Min(10) @IsInt() LAUNCH_BACKOFF_MS = 2000;
  /** The longest launch back-off, milliseconds. */
  @Transform(toInt) @Max(3_600_000) @Min(10) @IsInt() LAUNCH_BACKOFF_MAX_MS = 60_000;
  /**
   * Launch controllers take turns: one holds a lease (an object in the output bucket, renewed with conditional
   * writes) and launches; a standby takes over at most this long after the holder's last renewal, seconds.
   */
  @Transform(toInt) @Max(300) @Min(3) @IsInt() LEASE_SECONDS = 10;
  /**
   * Visibility timeout the monitor controller asks for on each receive from the monitor queue and the dead-letter
   * queues, seconds: a check whose controller died is checked again after at most this long, and one that failed is
   * retried after it. Renewed every half of it while a check runs.
   */
  @Transform(toInt) @Max(3600) @Min(2) @IsInt() MONITOR_VISIBILITY_SECONDS = 30;
  /** Scaling loop period, milliseconds. */
  @Transform(toInt) @Max(600_000) @Min(50) @IsInt() SCALE_TICK_MS = 1000;
  /** Tags and names of this stack's resources. */
  @Matches(/^[A-Za-z0-9-]{1,32}$/, { message: 'STACK_NAME must be 1-32 of [A-Za-z0-9-]' }) STACK_NAME = 'ics';

  /** Local provider: the worker's built entry point, and a SIGKILL grace after SIGTERM (ms). */
  @IsString() WORKER_MAIN = 'dist/apps/classifier-worker/main.js';
  /** Local provider: SIGKILL a worker this long after SIGTERM, milliseconds. */
  @Transform(toInt) @Max(600_000) @Min(0) @IsInt() WORKER_KILL_GRACE_MS = 10_000;
  /**
   * Local provider: how much lower the workers' scheduling priority is than the launch controller's (nice, 0 to 19;
   * the lowest there is, from a launcher at 0). On one machine the workers would take the CPU
   * that the web tier, the edge and the controllers need to answer other tenants; on AWS they have instances of their own.
   */
  @Transform(toInt) @Max(19) @Min(0) @IsInt() WORKER_NICE = 19;
  /** Local provider: one record (and log) per worker process, shared by the controllers. */
  @IsString() FLEET_STATE_DIR = '.local-run/fleet';

  /** EC2 provider: a launch template, or the parts of one. */
  @IsOptional() @IsString() EC2_LAUNCH_TEMPLATE_ID?: string;
  /** EC2 provider: version of the launch template; default `$Latest`. */
  @IsOptional() @IsString() EC2_LAUNCH_TEMPLATE_VERSION?: string;
  /** EC2 provider without a launch template: the worker AMI. */
  @IsOptional() @Matches(/^ami-[0-9a-f]{8,17}$/, { message: 'EC2_AMI_ID must look like ami-0123456789abcdef0' }) EC2_AMI_ID?: string;
  /** EC2 provider without a launch template: instance type. */
  @IsString() EC2_INSTANCE_TYPE = 't3.medium';
  /** EC2 provider without a launch template: instance profile (the worker role). */
  @IsOptional() @IsString() EC2_INSTANCE_PROFILE?: string;
  /** EC2 provider without a launch template: security groups, comma-separated. */
  @Transform(toList) @IsArray() @IsString({ each: true }) EC2_SECURITY_GROUP_IDS: string[] = [];
  /** EC2 provider without a launch template: subnet. */
  @IsOptional() @IsString() EC2_SUBNET_ID?: string;
  /** EC2 provider without a launch template: SSH key pair name. */
  @IsOptional() @IsString() EC2_KEY_NAME?: string;
  /** EC2 provider: what kind of instances workers run on (Spot workers hand their images back on an interruption notice). */
  @IsIn(WORKER_CAPACITIES) WORKER_CAPACITY: WorkerCapacityKind = 'on-demand';
}

export interface ScalingSettings {
  provider: (typeof FLEET_PROVIDERS)[number];
  policy: (typeof SCALING_POLICIES)[number];
  targetBacklogPerWorker: number;
  workerBootSeconds: number;
  imageSeconds: number;
  workerConcurrency: number;
  launchInFlightSeconds: number;
  launchBackoffMs: number;
  launchBackoffMaxMs: number;
  tickMs: number;
  leaseSeconds: number;
  monitorVisibilitySeconds: number;
  stackName: string;
  workerMain: string;
  workerKillGraceMs: number;
  workerNice: number;
  fleetStateDir: string;
  ec2: {
    launchTemplateId?: string;
    launchTemplateVersion?: string;
    amiId?: string;
    instanceType: string;
    instanceProfile?: string;
    securityGroupIds: string[];
    subnetId?: string;
    keyName?: string;
    /** Default on-demand. */
    capacity?: WorkerCapacityKind;
  };
}

export function scalingSettings(e: ScalingEnvironment): ScalingSettings {
  return {
    provider: e.FLEET_PROVIDER,
    policy: e.SCALING_POLICY,
    targetBacklogPerWorker: e.TARGET_BACKLOG_PER_WORKER,
    workerBootSeconds: e.WORKER_BOOT_SECONDS ?? (e.FLEET_PROVIDER === 'ec2' ? 30 : 3),
    imageSeconds: e.IMAGE_SECONDS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    launchInFlightSeconds: e.LAUNCH_IN_FLIGHT_SECONDS,
    launchBackoffMs: e.LAUNCH_BACKOFF_MS,
    launchBackoffMaxMs: e.LAUNCH_BACKOFF_MAX_MS,
    tickMs: e.SCALE_TICK_MS,
    leaseSeconds: e.LEASE_SECONDS,
    monitorVisibilitySeconds: e.MONITOR_VISIBILITY_SECONDS,
    stackName: e.STACK_NAME,
    workerMain: e.WORKER_MAIN,
    workerKillGraceMs: e.WORKER_KILL_GRACE_MS,
    workerNice: e.WORKER_NICE,
    fleetStateDir: e.FLEET_STATE_DIR,
    ec2: {
      launchTemplateId: e.EC2_LAUNCH_TEMPLATE_ID,
      launchTemplateVersion: e.EC2_LAUNCH_TEMPLATE_VERSION,
      amiId: e.EC2_AMI_ID,
      instanceType: e.EC2_INSTANCE_TYPE,
      instanceProfile: e.EC2_INSTANCE_PROFILE,
      securityGroupIds: e.EC2_SECURITY_GROUP_IDS,
      subnetId: e.EC2_SUBNET_ID,
      keyName: e.EC2_KEY_NAME,
      capacity: e.WORKER_CAPACITY,
    },
  };
}
