import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localAwsEnv } from '@tools/local-aws';
import { EDGE_LAUNCH_TEMPLATE_ID } from './edge/edge';
import { imageSpec, WORK_DIR, type ImageName } from './catalogue';
import type { ContainerRunner, RunningContainer, StopResult } from './containers';
import { tail } from './run';

/** The images a whole system needs: workers come from the edge's EC2 instances, not an image of their own. */
export const SYSTEM_IMAGES: ImageName[] = ['local-aws', 'launch-controller', 'monitor-controller', 'web-tier'];

export interface ContainerSystem {
  runId: string;
  logDir: string;
  webUrl: string;
  /** Stops every container, web tier first and the edge (with its workers) last; how long each took. */
  stop(): Promise<Record<string, StopResult>>;
}

/** The environment each container gets: only variables, as on any other host. */
export function systemEnv(p: { aws: number; ec2: number; web: number; launch: number; monitor: number }): Record<ImageName, Record<string, string>> {
  const { env: aws } = localAwsEnv(`http://127.0.0.1:${p.aws}`);
  const common = { ...aws, LOG_LEVEL: 'info', HOST: '127.0.0.1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const fleet = {
    FLEET_PROVIDER: 'ec2',
    AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${p.ec2}`,
    EC2_LAUNCH_TEMPLATE_ID: EDGE_LAUNCH_TEMPLATE_ID,
    EC2_LAUNCH_TEMPLATE_VERSION: '$Latest',
    WORKER_BOOT_SECONDS: '2',
  };
  return {
    'local-aws': {
      LOCAL_AWS_PORT: String(p.aws),
      LOCAL_EC2_PORT: String(p.ec2),
      LOCAL_AWS_HOST: '127.0.0.1',
      LOCAL_AWS_PUBLIC_HOST: '127.0.0.1',
      EC2_BOOT_SECONDS: '2',
      // Passed on to the instances' workers.
      IDLE_SECONDS: '60',
      LOG_LEVEL: 'info',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    'launch-controller': { ...common, ...fleet, PORT: String(p.launch), MAX_WORKERS: '2' },
    'monitor-controller': { ...common, ...fleet, PORT: String(p.monitor) },
    'web-tier': { ...common, PORT: String(p.web), LAUNCH_CONTROLLER_URL: `http://127.0.0.1:${p.launch}` },
    'classifier-worker': {},
  };
}

/** Resolves when `url` answers (any HTTP status, or 2xx with `ok`); rejects when the container ends or time runs out. */
async function answers(url: string, c: RunningContainer, logFile: string, timeoutMs: number, ok = false): Promise<void> {
  let ended = false;
  void c.exited.then(() => (ended = true));
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (ended) throw new Error(`${c.name} exited before ${url} answered:\n${logTail(logFile)}`);
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
    if (res && (!ok || res.ok)) return;
    if (Date.now() > end) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s:\n${logTail(logFile)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function logTail(file: string): string {
  return existsSync(file) ? tail(readFileSync(file, 'utf8'), 15) : '(no output)';
}

/**
 * Starts the edge, then the launch and monitor controllers and the web tier, each from its image
 * on the host network with free ports, each waited for. A failure half-way stops what started.
 */
export async function startContainerSystem(runner: ContainerRunner, log: (line: string) => void, readyTimeoutMs = 180_000): Promise<ContainerSystem> {
  const runId = randomBytes(4).toString('hex');
  const logDir = join(WORK_DIR, `check-${runId}`);
  mkdirSync(logDir, { recursive: true });
  // Loaded here, not at the top: the local runner's module tree is large and only a run needs it.
  const { freePort } = await import('@tools/local-run');
  const ports = { aws: await freePort(), ec2: await freePort(), web: await freePort(), launch: await freePort(), monitor: await freePort() };
  const env = systemEnv(ports);
  const started: RunningContainer[] = [];
  const stop = async () => {
    const result: Record<string, StopResult> = {};
    for (const c of [...started].reverse()) result[c.name] = await c.stop();
    return result;
  };
  try {
    for (const name of SYSTEM_IMAGES) {
      const logFile = join(logDir, `${name}.log`);
      log(`starting ${name} (log: ${logFile})`);
      const c = await runner.start({ name: `ics-check-${runId}-${name}`, image: imageSpec(name).tag, env: env[name], logFile });
      started.push(c);
      if (name === 'local-aws') {
        await answers(`http://127.0.0.1:${ports.aws}/`, c, logFile, readyTimeoutMs);
        await answers(`http://127.0.0.1:${ports.ec2}/`, c, logFile, readyTimeoutMs);
      } else {
        await answers(`http://127.0.0.1:${env[name]['PORT']}/health`, c, logFile, readyTimeoutMs, true);
      }
      log(`${name}: up`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { runId, logDir, webUrl: `http://127.0.0.1:${ports.web}`, stop };
}
