import { startEc2StandIn, type Ec2Faults, type Ec2StandIn } from '@tools/ec2-standin';

/** The worker launch template of the local EC2 stand-in (the stack's is made by infra/). */
export const LOCAL_LAUNCH_TEMPLATE_ID = 'lt-0105a1c0ffee00001';

/** Variables that configure the control apps' fleet, never an instance's worker. */
const CONTROL_ONLY = /^(FLEET_|WORKER_MAIN$|WORKER_KILL_GRACE_MS$|PORT$|MAX_WORKERS$|TARGET_BACKLOG_PER_WORKER$|SCALE_TICK_MS$|EC2_)/;

export interface StandInFleetOptions {
  /** The environment every app gets; an instance's worker gets it too, as the template's user data would write it. */
  base: Record<string, string>;
  /** Instance logs go here: `<fleetDir>/<instance-id>.log`. */
  fleetDir: string;
  workerMain: string;
  cwd: string;
  bootSeconds: number;
  faults?: Partial<Ec2Faults>;
  log: (line: string) => void;
}

/**
 * The stand-in's Spot behaviour from the environment: EC2_SPOT_INTERRUPT_SECONDS
 * (each Spot instance is interrupted that long after it starts running) and
 * EC2_TIME_SCALE (EC2's two-minute notice runs this many times faster).
 */
export function spotSettings(env: Record<string, string | undefined>): { faults: Partial<Ec2Faults>; timeScale: number } {
  const number = (name: string, ok: (n: number) => boolean, what: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || !ok(n)) throw new Error(`${name} must be ${what} (got ${raw})`);
    return n;
  };
  const interrupt = number('EC2_SPOT_INTERRUPT_SECONDS', (n) => n >= 0, 'a number of seconds >= 0');
  const timeScale = number('EC2_TIME_SCALE', (n) => n > 0, 'a number > 0') ?? 1;
  return { faults: interrupt === undefined ? {} : { spotInterruptSeconds: interrupt }, timeScale };
}

/**
 * `LOCAL_FLEET=ec2`: the EC2 stand-in (a test double) with one launch template
 * whose instances run the built classifier-worker with WORKER_PLATFORM=ec2, and
 * the variables that put both controllers on the real EC2 provider against it.
 */
export async function startStandInFleet(o: StandInFleetOptions): Promise<{ standIn: Ec2StandIn; env: Record<string, string> }> {
  const spot = spotSettings(o.base);
  const standIn = await startEc2StandIn({
    bootSeconds: o.bootSeconds,
    region: o.base['AWS_REGION'] ?? 'us-east-1',
    worker: { main: o.workerMain, cwd: o.cwd, logDir: o.fleetDir },
    faults: { ...o.faults, ...spot.faults },
    timeScale: spot.timeScale,
    log: o.log,
  });
  const workerEnv = Object.fromEntries(Object.entries(o.base).filter(([k]) => !CONTROL_ONLY.test(k)));
  standIn.addLaunchTemplate({
    id: LOCAL_LAUNCH_TEMPLATE_ID,
    name: 'ics-local-worker',
    versions: [
      {
        imageId: 'ami-0105a1c0ffee00001',
        instanceType: 't3.medium',
        shutdownBehavior: 'terminate',
        // On AWS the instance profile gives the worker ec2:CreateTags and ec2:TerminateInstances on
        // itself; here the worker reaches the stand-in with the local credentials in `base`.
        workerEnv: { ...workerEnv, ...standIn.env, APP_NAME: 'classifier-worker' },
      },
    ],
  });
  return {
    standIn,
    env: {
      ...standIn.env,
      FLEET_PROVIDER: 'ec2',
      EC2_LAUNCH_TEMPLATE_ID: LOCAL_LAUNCH_TEMPLATE_ID,
      EC2_LAUNCH_TEMPLATE_VERSION: '$Latest',
      // The scaling policy weighs how long a new instance takes to boot: here, the stand-in's delay.
      WORKER_BOOT_SECONDS: o.base['WORKER_BOOT_SECONDS'] ?? String(o.bootSeconds),
    },
  };
}

