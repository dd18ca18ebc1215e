import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readWorkerRecords } from '@app/fleet';
import { LOCAL_CREDENTIALS, startFaultProxy, startLocalAws, type FaultProxy, type LocalAws } from '@tools/local-aws';
import type { Ec2StandIn } from '@tools/ec2-standin';
import { startStandInFleet } from './ec2-standin-fleet';
import { freePort } from './ports';
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
  /** Crashes and restarts of the supervised control apps. */
  onSupervisorEvent?: (event: SupervisorEvent) => void;
  /**
   * Put a proxy between the apps and the embedded S3/SQS, so that a chaos run
   * can make the edge unreachable for a while (`system.edge.cut()`, then `restore()`).
   */
  edgeProxy?: boolean;
  /**
   * `local` (default): workers are processes started by the local fleet. `ec2`: both
   * controllers use the EC2 provider against the EC2 stand-in (a test double), whose
   * instances run the worker after `ec2BootSeconds` (default 3).
   */
  fleet?: 'local' | 'ec2';
  ec2BootSeconds?: number;
}

export interface LocalSystem {
  webUrl: string;
  launchControllerUrl: string;
  aws: LocalAws;
  logDir: string;
  fleetDir: string;
  /** Marks every process of this run (ICS_RUN_ID in its environment). */
  runId: string;
  /** The control apps, each restarted when it exits by itself (as systemd's Restart=always does). */
  apps: Record<ControlApp, SupervisedApp>;
  /** Between the apps and the embedded S3/SQS, when asked for. */
  edge?: FaultProxy;
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
  const aws = await startLocalAws({ port: o.awsPort, dataDir: join(runDir, 's3') });
  const running: SupervisedApp[] = [];
  const runId = randomUUID();
  let edge: FaultProxy | undefined;
  let ec2: Ec2StandIn | undefined;

  const stop = async () => {
    // Web tier first (no new uploads), then the monitor, then the launch
    // controller, which stops its workers before it exits.
    for (const app of running) app.prepareStop();
    for (const name of ['web-tier', 'monitor-controller', 'launch-controller']) {
      await running.find((r) => r.name === name)?.stop();
    }
    killStragglers(fleetDir);
    // After the launch controller, so that nothing launches while the instances stop.
    await ec2?.stop();
    await edge?.stop();
    await aws.stop();
  };

  try {
    // Apps reach S3/SQS through the proxy when there is one: every address of the edge is rewritten.
    let awsEnv = aws.env;
    if (o.edgeProxy) {
      edge = await startFaultProxy({ port: Number(new URL(aws.endpoint).port) });
      const from = new URL(aws.endpoint).host;
      const to = new URL(edge.endpoint).host;
      awsEnv = Object.fromEntries(Object.entries(aws.env).map(([k, v]) => [k, v.split(from).join(to)]));
    }
    const launchPort = await freePort();
    const webPort = o.webPort === 0 ? await freePort() : o.webPort;
    const base: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      ...awsEnv,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      FLEET_PROVIDER: 'local',
      FLEET_STATE_DIR: fleetDir,
      WORKER_MAIN: join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js'),
      HOST: '127.0.0.1',
      ICS_RUN_ID: runId,
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
    const launchControllerUrl = `http://127.0.0.1:${launchPort}`;
    const apps: [ControlApp, Record<string, string>][] = [
      ['launch-controller', { PORT: String(launchPort) }],
      ['monitor-controller', { PORT: String(await freePort()) }],
      ['web-tier', { PORT: String(webPort), LAUNCH_CONTROLLER_URL: launchControllerUrl }],
    ];
    for (const [name, extra] of apps) {
      const app = new SupervisedApp({
        name,
        main: join(WORKSPACE_ROOT, 'dist/apps', name, 'main.js'),
        cwd: WORKSPACE_ROOT,
        env: { ...base, ...extra },
        logFile: join(logDir, `${name}.log`),
        stopGraceMs: 20_000,
        onEvent: o.onSupervisorEvent,
      });
      running.push(app);
      app.start();
      await app.waitForReady(o.readyTimeoutMs ?? 60_000);
    }
    const byName = Object.fromEntries(running.map((a) => [a.name, a])) as Record<ControlApp, SupervisedApp>;
    return { webUrl: `http://127.0.0.1:${webPort}`, launchControllerUrl, aws, logDir, fleetDir, runId, apps: byName, edge, ec2, stop };
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
