import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readWorkerRecords } from '@app/fleet';
import { LOCAL_CREDENTIALS, startFaultProxy, startLocalAws, type FaultProxy, type LocalAws } from '@tools/local-aws';
import type { Ec2StandIn } from '@tools/ec2-standin';
import { startStandInFleet } from './ec2-standin-fleet';
import { startLoadBalancer, type LoadBalancer } from './load-balancer';
import { createOutputTopic } from './output-topic';
import { freePort } from './ports';
import { startS3Brownout, type S3Brownout } from './s3-brownout';
import { SupervisedApp, type SupervisorEvent } from './supervisor';

import { WORKSPACE_ROOT } from '@tools/testing';
export { WORKSPACE_ROOT };
import type { ControlApp } from '@app/contracts';
export { CONTROL_APPS, type ControlApp } from '@app/contracts';

export interface LocalSystemOptions {
  /** Web tier port (0 = any free port). */
  webPort: number;
  /** Edge port of the embedded S3/SQS (0 = any free port). */
  awsPort: number;
  /** Logs, worker records and S3 data go under here. */
  runDir: string;
  /** Variables for every app (MODEL_DIR or MODEL_URL, MAX_WORKERS, IDLE_SECONDS, ...). */
  env: Record<string, string>;
  /** How long to wait for each app's "ready" line. */
  readyTimeoutMs?: number;
  /** The edge's fair message groups (default on); off only to measure what they change (bench:fair --unfair). */
  fairGroups?: boolean;
  /** Crashes and restarts of the supervised control apps. */
  onSupervisorEvent?: (event: SupervisorEvent) => void;
  /**
   * Put a proxy between the apps and the embedded S3/SQS, so that a chaos run
   * can make the edge unreachable for a while (`system.edge.cut()`, then `restore()`)
   * or brown S3 out (`system.s3Brownout.begin()`, then `end()`).
   */
  edgeProxy?: boolean;
  /**
   * `local` (default): workers are processes started by the local fleet. `ec2`: both
   * controllers use the EC2 provider against the EC2 stand-in (a test double), whose
   * instances run the worker after `ec2BootSeconds` (default 3).
   */
  fleet?: 'local' | 'ec2';
  ec2BootSeconds?: number;
  /**
   * Web tiers behind a local round-robin load balancer listening on `webPort`
   * (each tier on a free port of its own). Undefined: one tier on `webPort`, no balancer.
   */
  webTiers?: number;
  /** Launch controllers and monitor controllers, this many of each (default 1): one holds the launch lease. */
  controlPlanes?: number;
}

/** One of several copies of an app, with its own address. */
export interface AppCopy {
  /** 1-based, as npm start prints it. */
  n: number;
  url: string;
  app: SupervisedApp;
}

export interface LocalSystem {
  /** Where users go: the load balancer when there is one, else the one web tier. */
  webUrl: string;
  launchControllerUrl: string;
  /** Every web tier, by number. */
  webTiers: AppCopy[];
  /** In front of the web tiers, when `webTiers` was given. */
  loadBalancer?: LoadBalancer;
  /** Every launch controller (one of them holds the launch lease), by number. */
  launchControllers: AppCopy[];
  monitorControllers: AppCopy[];
  aws: LocalAws;
  logDir: string;
  fleetDir: string;
  /** Marks every process of this run (ICS_RUN_ID in its environment). */
  runId: string;
  /**
   * The control apps (the first copy of each), each restarted when it exits by
   * itself (as systemd's Restart=always does).
   */
  apps: Record<ControlApp, SupervisedApp>;
  /** Between the apps and the embedded S3/SQS, when asked for. */
  edge?: FaultProxy;
  /** Behind `edge`, when there is one: browns S3 out (503 SlowDown) on demand. */
  s3Brownout?: S3Brownout;
  /** The EC2 stand-in, with `fleet: 'ec2'`. */
  ec2?: Ec2StandIn;
  stop(): Promise<void>;
}

/**
 * The whole system on this machine: embedded S3/SQS, the launch controller
 * (with the local-process fleet), the monitor controller and the web tier,
 * each a real process running its built artifact.
 */
export async function startLocalSystem(o: LocalSystemOptions): Promise<LocalSystem> {
  const runDir = resolve(o.runDir);
  const logDir = join(runDir, 'logs');
  const fleetDir = join(runDir, 'fleet');
  mkdirSync(logDir, { recursive: true });
  const aws = await startLocalAws({ port: o.awsPort, dataDir: join(runDir, 's3'), fairGroups: o.fairGroups });
  const running: SupervisedApp[] = [];
  const runId = randomUUID();
  let edge: FaultProxy | undefined;
  let s3Brownout: S3Brownout | undefined;
  let ec2: Ec2StandIn | undefined;

  let loadBalancer: LoadBalancer | undefined;

  const stop = async () => {
    // Web tiers first (no new uploads), then the monitors, then the launch
    // controllers, which stop their workers before they exit.
    for (const app of running) app.prepareStop();
    for (const name of ['web-tier', 'monitor-controller', 'launch-controller']) {
      await Promise.all(running.filter((r) => r.name === name).map((r) => r.stop()));
      if (name === 'web-tier') await loadBalancer?.stop();
    }
    killStragglers(fleetDir);
    // After the launch controller, so that nothing launches while the instances stop.
    await ec2?.stop();
    await edge?.stop();
    await s3Brownout?.stop();
    await aws.stop();
  };

  try {
    // Apps reach S3/SQS through the proxy when there is one: every address of the edge is rewritten.
    let awsEnv = aws.env;
    if (o.edgeProxy) {
      // Apps → TCP fault proxy (cut) → HTTP S3 brownout → edge.
      s3Brownout = await startS3Brownout(aws.endpoint);
      edge = await startFaultProxy({ port: s3Brownout.port });
      const from = new URL(aws.endpoint).host;
      const to = new URL(edge.endpoint).host;
      awsEnv = Object.fromEntries(Object.entries(aws.env).map(([k, v]) => [k, v.split(from).join(to)]));
    }
    const planes = o.controlPlanes ?? 1;
    const tierCount = o.webTiers ?? 1;
    if (!(Number.isInteger(planes) && planes >= 1)) throw new Error(`controlPlanes must be a whole number of at least 1 (got ${planes})`);
    if (!(Number.isInteger(tierCount) && tierCount >= 1)) throw new Error(`webTiers must be a whole number of at least 1 (got ${tierCount})`);
    const behindBalancer = o.webTiers !== undefined;
    // Behind a balancer the tiers take free ports and the balancer the web port; alone, the one tier takes it.
    const webPort = o.webPort === 0 && !behindBalancer ? await freePort() : o.webPort;
    const base: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      ...awsEnv,
      OUTPUT_TOPIC_ARN: await createOutputTopic(aws),
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      FLEET_PROVIDER: 'local',
      FLEET_STATE_DIR: fleetDir,
      WORKER_MAIN: join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js'),
      HOST: '127.0.0.1',
      ICS_RUN_ID: runId,
      // The launch queue read 4 times a second rather than once (the caller may set another):
      // the embedded SQS answers it for nothing, and the first launch after an idle spell
      // comes 0.4 s sooner on average, which is what a first upload on the page waits for.
      SCALE_TICK_MS: '250',
      ...o.env,
    };
    if (o.fleet === 'ec2') {
      const fleet = await startStandInFleet({
        base,
        fleetDir,
        workerMain: base['WORKER_MAIN'],
        cwd: WORKSPACE_ROOT,
        bootSeconds: o.ec2BootSeconds ?? 3,
        log: (line) => appendFileSync(join(logDir, 'ec2-standin.log'), `${new Date().toISOString()} ${line}\n`),
      });
      ec2 = fleet.standIn;
      Object.assign(base, fleet.env);
    }
    // Several copies of one app: numbered labels and log files (`web-tier-2.log`); one copy keeps the app's name.
    const start = (name: ControlApp, count: number, env: (n: number, port: number) => Record<string, string>) =>
      Promise.all(
        Array.from({ length: count }, async (_, i): Promise<AppCopy> => {
          const n = i + 1;
          const label = count === 1 ? name : `${name}-${n}`;
          const port = await freePort();
          const app = new SupervisedApp({
            name,
            label,
            main: join(WORKSPACE_ROOT, 'dist/apps', name, 'main.js'),
            cwd: WORKSPACE_ROOT,
            env: { ...base, ...env(n, port) },
            logFile: join(logDir, `${label}.log`),
            stopGraceMs: 20_000,
            onEvent: o.onSupervisorEvent,
          });
          running.push(app);
          app.start();
          await app.waitForReady(o.readyTimeoutMs ?? 60_000);
          return { n, url: `http://127.0.0.1:${port}`, app };
        }),
      );
    const launchControllers = await start('launch-controller', planes, (_, port) => ({ PORT: String(port) }));
    const launchControllerUrl = launchControllers[0].url;
    const monitorControllers = await start('monitor-controller', planes, (_, port) => ({ PORT: String(port) }));
    const webTiers = await start('web-tier', tierCount, (_, port) => ({
      PORT: String(behindBalancer ? port : webPort),
      LAUNCH_CONTROLLER_URL: launchControllerUrl,
    }));
    if (!behindBalancer) webTiers[0].url = `http://127.0.0.1:${webPort}`;
    else loadBalancer = await startLoadBalancer({ targets: webTiers.map((t) => t.url), port: webPort });
    const apps: Record<ControlApp, SupervisedApp> = {
      'launch-controller': launchControllers[0].app,
      'monitor-controller': monitorControllers[0].app,
      'web-tier': webTiers[0].app,
    };
    return {
      webUrl: loadBalancer?.url ?? webTiers[0].url,
      launchControllerUrl,
      webTiers,
      loadBalancer,
      launchControllers,
      monitorControllers,
      aws,
      logDir,
      fleetDir,
      runId,
      apps,
      edge,
      s3Brownout,
      ec2,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Workers whose launch controller died before it could stop them. */
function killStragglers(fleetDir: string): void {
  for (const { pid } of readWorkerRecords(fleetDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
