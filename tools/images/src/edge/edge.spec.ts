import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@tools/testing/eventually';
import { EDGE_LAUNCH_TEMPLATE_ID, edgeSettings, startEdge, type Edge } from './edge';

describe('edge settings', () => {
  it('defaults to the image\'s layout and ports, and passes everything but its own and the fleet\'s settings to workers', () => {
    const s = edgeSettings({ IDLE_SECONDS: '60', LOCAL_AWS_PUBLIC_HOST: 'aws', EC2_LAUNCH_TEMPLATE_ID: 'lt-1', FLEET_PROVIDER: 'ec2', PORT: '1', npm_x: 'y' });
    expect(s).toMatchObject({ awsPort: 4566, ec2Port: 4567, host: '0.0.0.0', publicHost: 'aws', workerMain: '/opt/worker/main.js', launchTemplateId: 'lt-1', bootSeconds: 3 });
    expect(s.workerEnv).toEqual({ IDLE_SECONDS: '60' });
    expect(edgeSettings({}).launchTemplateId).toBe(EDGE_LAUNCH_TEMPLATE_ID);
  });

  it('names a bad port or boot time', () => {
    expect(() => edgeSettings({ LOCAL_EC2_PORT: 'x' })).toThrow('LOCAL_EC2_PORT must be a port number (got x)');
    expect(() => edgeSettings({ EC2_BOOT_SECONDS: '-1' })).toThrow(/EC2_BOOT_SECONDS must be a number of seconds/);
  });
});

describe('the edge', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-spec-'));
  const out = join(dir, 'worker-env.json');
  let edge: Edge | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    // A stand-in for the worker artifact: it records the environment its instance gave it and runs until SIGTERM.
    const main = join(dir, 'main.js');
    writeFileSync(
      main,
      `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env)); console.log('worker up'); process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);`,
    );
    const s = edgeSettings({ LOCAL_AWS_PORT: '0', LOCAL_EC2_PORT: '0', LOCAL_AWS_HOST: '127.0.0.1', WORKER_MAIN: main, EC2_BOOT_SECONDS: '0', IDLE_SECONDS: '7' });
    edge = await startEdge(s, (l) => lines.push(l));
  });
  afterAll(async () => {
    await edge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the worker artifact on an instance launched from its template through the EC2 API, with the edge\'s addresses', async () => {
    const e = edge as Edge;
    const ec2 = new EC2Client({ region: 'us-east-1', endpoint: e.ec2.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      const run = await ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: EDGE_LAUNCH_TEMPLATE_ID, Version: '$Latest' } }));
      const id = run.Instances?.[0]?.InstanceId ?? '';
      expect(id).toMatch(/^i-/);
      // The worker writes its environment, then says it is up; its output reaches the edge's log (a container's
      // stdout), prefixed with its instance.
      await eventually(
        () => {
          if (!lines.includes(`[${id}] worker up`)) throw new Error(`the edge's log so far:\n${lines.join('\n')}`);
          return true;
        },
        20_000,
        50,
        "the instance's worker to say it is up in the edge's log",
      );
      const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
      expect(env).toMatchObject({
        ...e.aws.env,
        IDLE_SECONDS: '7',
        WORKER_PLATFORM: 'ec2',
        AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${e.ec2.port}`,
        APP_NAME: 'classifier-worker',
      });
      expect(env['WORKER_MAIN']).toBeUndefined();
      const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('running');
    } finally {
      ec2.destroy();
    }
  }, 60_000);
});
