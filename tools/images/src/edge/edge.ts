/**
 * The local edge as one process (edge-main.ts runs it; the `ics/local-aws` image's entry): the embedded S3/SQS
 * edge and the EC2 stand-in, whose instances run the classifier-worker artifact carried in the
 * image (WORKER_MAIN), so that controllers on the EC2 provider start real workers.
 * Configuration only from the environment:
 *   LOCAL_AWS_PORT (4566)  LOCAL_EC2_PORT (4567)  LOCAL_AWS_HOST (0.0.0.0: the address both listen on)
 *   LOCAL_AWS_PUBLIC_HOST  the name clients reach the edge by, put into queue URLs (127.0.0.1)
 *   LOCAL_AWS_DATA         S3 data folder (a fresh temporary one)
 *   WORKER_MAIN            the worker artifact (/opt/worker/main.js)
 *   EC2_LAUNCH_TEMPLATE_ID the template the controllers launch from (lt-0105a1c0ffee00001)
 *   EC2_BOOT_SECONDS       pending -> running (3)
 * Every other variable (IDLE_SECONDS, LOG_LEVEL, MODEL_DIR, ...) is passed on to the instances'
 * workers, as a launch template's user data would. Logs, the workers' included, go to stdout.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startEc2StandIn, type Ec2StandIn } from '@tools/ec2-standin';
import { startLocalAws, type LocalAws } from '@tools/local-aws';
import { followLogs } from './log-follower';

export const EDGE_LAUNCH_TEMPLATE_ID = 'lt-0105a1c0ffee00001';
/** The edge's own settings and the controllers' fleet settings: never an instance's. */
const NOT_FOR_WORKERS = /^(LOCAL_AWS_|LOCAL_EC2_|EC2_|FLEET_|WORKER_MAIN$|PORT$|HOSTNAME$|MAX_WORKERS$|npm_)/;

export interface EdgeSettings {
  awsPort: number;
  ec2Port: number;
  host: string;
  publicHost: string;
  dataDir?: string;
  workerMain: string;
  launchTemplateId: string;
  bootSeconds: number;
  /** What the instances' workers get besides the edge's addresses. */
  workerEnv: Record<string, string>;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number (got ${env[name]})`);
  return value;
}

export function edgeSettings(env: NodeJS.ProcessEnv): EdgeSettings {
  const bootSeconds = Number(env['EC2_BOOT_SECONDS'] ?? 3);
  if (!(bootSeconds >= 0)) throw new Error(`EC2_BOOT_SECONDS must be a number of seconds (got ${env['EC2_BOOT_SECONDS']})`);
  return {
    awsPort: port(env, 'LOCAL_AWS_PORT', 4566),
    ec2Port: port(env, 'LOCAL_EC2_PORT', 4567),
    host: env['LOCAL_AWS_HOST'] ?? '0.0.0.0',
    publicHost: env['LOCAL_AWS_PUBLIC_HOST'] ?? '127.0.0.1',
    dataDir: env['LOCAL_AWS_DATA'] || undefined,
    workerMain: env['WORKER_MAIN'] ?? '/opt/worker/main.js',
    launchTemplateId: env['EC2_LAUNCH_TEMPLATE_ID'] ?? EDGE_LAUNCH_TEMPLATE_ID,
    bootSeconds,
    workerEnv: Object.fromEntries(
      Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && !NOT_FOR_WORKERS.test(e[0])),
    ),
  };
}

export interface Edge {
  aws: LocalAws;
  ec2: Ec2StandIn;
  stop(): Promise<void>;
}

export async function startEdge(s: EdgeSettings, log: (line: string) => void): Promise<Edge> {
  const aws = await startLocalAws({ port: s.awsPort, host: s.host, publicHost: s.publicHost, dataDir: s.dataDir });
  const logDir = mkdtempSync(join(tmpdir(), 'edge-instances-'));
  let ec2: Ec2StandIn;
  try {
    ec2 = await startEc2StandIn({
      port: s.ec2Port,
      host: s.host,
      region: aws.env['AWS_REGION'],
      bootSeconds: s.bootSeconds,
      // SIGKILL well within the 10 s a container gets between SIGTERM and SIGKILL.
      worker: { main: s.workerMain, cwd: dirname(s.workerMain), logDir, killGraceMs: 5_000 },
      log,
    });
  } catch (err) {
    await aws.stop();
    throw err;
  }
  // The instances' workers run in this container: they reach the stand-in (API and IMDS) on loopback.
  const ec2Loopback = `http://127.0.0.1:${ec2.port}`;
  ec2.addLaunchTemplate({
    id: s.launchTemplateId,
    name: 'ics-edge-worker',
    versions: [
      {
        imageId: 'ami-0105a1c0ffee00001',
        instanceType: 't3.medium',
        shutdownBehavior: 'terminate',
        workerEnv: { ...s.workerEnv, ...aws.env, ...ec2.env, AWS_ENDPOINT_URL_EC2: ec2Loopback, APP_NAME: 'classifier-worker' },
      },
    ],
  });
  const follower = followLogs(logDir, log);
  return {
    aws,
    ec2,
    async stop() {
      await ec2.stop();
      follower.stop();
      await aws.stop();
    },
  };
}
