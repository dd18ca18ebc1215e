import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readWorkerRecords } from '@app/fleet';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from '@tools/local-aws';
import { freePort } from './ports';

export const WORKSPACE_ROOT = resolve(__dirname, '../../..');
export const CONTROL_APPS = ['launch-controller', 'monitor-controller', 'web-tier'] as const;
export type ControlApp = (typeof CONTROL_APPS)[number];

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
}

export interface LocalSystem {
  webUrl: string;
  launchControllerUrl: string;
  aws: LocalAws;
  logDir: string;
  fleetDir: string;
  /** Marks every process of this run (ICS_RUN_ID in its environment). */
  runId: string;
  stop(): Promise<void>;
}

interface RunningProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
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
  const running: RunningProcess[] = [];
  const runId = randomUUID();

  const stop = async () => {
    // Web tier first (no new uploads), then the monitor, then the launch
    // controller, which stops its workers before it exits.
    for (const name of ['web-tier', 'monitor-controller', 'launch-controller']) {
      const p = running.find((r) => r.name === name);
      if (p) await terminate(p, 20_000);
    }
    killStragglers(fleetDir);
    await aws.stop();
  };

  try {
    const launchPort = await freePort();
    const webPort = o.webPort === 0 ? await freePort() : o.webPort;
    const base: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      ...aws.env,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      // The SDK's notice about future Node versions, once per process, says nothing a local user can act on.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      FLEET_PROVIDER: 'local',
      FLEET_STATE_DIR: fleetDir,
      WORKER_MAIN: join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js'),
      HOST: '127.0.0.1',
      ICS_RUN_ID: runId,
      ...o.env,
    };
    const launchControllerUrl = `http://127.0.0.1:${launchPort}`;
    const apps: [ControlApp, Record<string, string>][] = [
      ['launch-controller', { PORT: String(launchPort) }],
      ['monitor-controller', { PORT: String(await freePort()) }],
      ['web-tier', { PORT: String(webPort), LAUNCH_CONTROLLER_URL: launchControllerUrl }],
    ];
    for (const [name, extra] of apps) {
      const p = spawnApp(name, { ...base, ...extra }, logDir);
      running.push(p);
      await waitForReady(p, join(logDir, `${name}.log`), o.readyTimeoutMs ?? 60_000);
    }
    return { webUrl: `http://127.0.0.1:${webPort}`, launchControllerUrl, aws, logDir, fleetDir, runId, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function spawnApp(name: string, env: Record<string, string>, logDir: string): RunningProcess {
  const fd = openSync(join(logDir, `${name}.log`), 'a');
  try {
    const child = spawn(process.execPath, [join(WORKSPACE_ROOT, 'dist/apps', name, 'main.js')], {
      cwd: WORKSPACE_ROOT,
      env: { ...env, APP_NAME: name },
      stdio: ['ignore', fd, fd],
    });
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    return { name, child, exited };
  } finally {
    closeSync(fd);
  }
}

async function waitForReady(p: RunningProcess, logFile: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let exited = false;
  void p.exited.then(() => (exited = true));
  while (Date.now() < end) {
    const log = readFileSync(logFile, 'utf8');
    if (log.includes(`${p.name} ready`)) return;
    if (exited) {
      throw new Error(`${p.name} exited while starting; last lines of ${logFile}:\n${log.split('\n').slice(-15).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${p.name} was not ready within ${timeoutMs} ms (see ${logFile})`);
}

async function terminate(p: RunningProcess, graceMs: number): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
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
