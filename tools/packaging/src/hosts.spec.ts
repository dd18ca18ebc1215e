import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MODEL_DIR, spawnApp, startTestStack, type TestStack } from '@tools/testing';
import { CONTROL_APPS, WORKER_APP, WORKSPACE_ROOT } from './lib/artifacts';
import { envFilesOf, fillPlaceholders } from '@tools/testing';

/**
 * The built artifacts started with exactly the configuration the user data writes on
 * the hosts (systemd reads /etc/ics/ics.env, then /etc/ics/<app>.env), pointed at the
 * embedded S3 and SQS instead of AWS: what a host runs, minus AWS.
 */
const script = (name: string) => readFileSync(join(WORKSPACE_ROOT, 'deploy/user-data', name), 'utf8');

describe('the hosts\' configuration starts the built apps', () => {
  let stack: TestStack;
  let imds: Server;
  let imdsUrl: string;
  let values: Record<string, string>;
  beforeAll(async () => {
    stack = await startTestStack();
    // IMDSv2 as an EC2 worker sees it: a session token, then the instance id with it.
    imds = createServer((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return void res.end('token-1');
      if (req.url === '/latest/meta-data/instance-id' && req.headers['x-aws-ec2-metadata-token'] === 'token-1') {
        return void res.end('i-0123456789abcdef0');
      }
      res.statusCode = 401;
      res.end();
    });
    await new Promise<void>((r) => imds.listen(0, '127.0.0.1', r));
    imdsUrl = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
    values = {
      AWS_REGION: 'us-east-1',
      STACK_NAME: 'ics-test',
      INPUT_BUCKET: stack.env['INPUT_BUCKET'],
      OUTPUT_BUCKET: stack.env['OUTPUT_BUCKET'],
      LAUNCH_QUEUE_URL: stack.env['LAUNCH_QUEUE_URL'],
      MONITOR_QUEUE_URL: stack.env['MONITOR_QUEUE_URL'],
      OUTPUT_QUEUE_URL: stack.env['OUTPUT_QUEUE_URL'],
      LAUNCH_DEAD_LETTER_QUEUE_URL: stack.env['LAUNCH_DEAD_LETTER_QUEUE_URL'],
      MAX_WORKERS: '20',
      IDLE_SECONDS: '60',
      IMAGE_DEADLINE_SECONDS: '120',
      LOG_LEVEL: 'info',
      EC2_LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
      ARTIFACT_BUCKET: 'ics-artifacts',
      MODEL_URL: '',
    };
  });
  afterAll(async () => {
    await new Promise<void>((r) => imds.close(() => r()));
    await stack.stop();
  });

  /** The user data's files for an app, in systemd's order, then the test-only overrides. */
  function hostEnv(file: string, app: string, overrides: Record<string, string>): Record<string, string> {
    const files = envFilesOf(fillPlaceholders(script(file), values));
    const { AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REQUEST_CHECKSUM_CALCULATION, AWS_RESPONSE_CHECKSUM_VALIDATION, S3_FORCE_PATH_STYLE, SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT } = stack.env;
    return {
      ...files['/etc/ics/ics.env'],
      ...files[`/etc/ics/${app}.env`],
      // Where AWS would be: the embedded S3 and SQS and their quirks, and no privileged port.
      AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REQUEST_CHECKSUM_CALCULATION,
      AWS_RESPONSE_CHECKSUM_VALIDATION, S3_FORCE_PATH_STYLE, SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT,
      ...overrides,
    };
  }

  it.each(CONTROL_APPS)('control host: %s logs ready and stops cleanly on SIGTERM', async (app) => {
    const env = hostEnv('control-host.sh', app, { PORT: '0' });
    expect(env['FLEET_PROVIDER']).toBe('ec2');
    const run = spawnApp(app, env);
    try {
      await run.waitForLine(new RegExp(`${app} ready`), 60_000);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 90_000);

  it('worker: classifier-worker reads its instance id from IMDSv2 and logs ready', async () => {
    const env = hostEnv('worker.sh', WORKER_APP, {
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl,
      MODEL_DIR,
      MODEL_CACHE_DIR: join(WORKSPACE_ROOT, 'tmp/model-cache'),
    });
    expect(env['WORKER_PLATFORM']).toBe('ec2');
    const run = spawnApp(WORKER_APP, env);
    try {
      await run.waitForLine(/classifier-worker ready/, 60_000);
      expect(run.lines.join('\n')).toContain('i-0123456789abcdef0');
    } finally {
      // No EC2 here: its state tags fail (logged as warnings) and it still stops cleanly.
      expect(await run.stop()).toBe(0);
    }
  }, 90_000);
});
