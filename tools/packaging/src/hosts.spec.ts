import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envFilesOf, fillPlaceholders, MODEL_DIR, spawnApp, startSsmDouble, startTestStack, stopAllApps, type SsmDouble, type TestStack } from '@tools/testing';
import { CONTROL_APPS, WORKER_APP, WORKSPACE_ROOT } from './lib/artifacts';

/**
 * The built artifacts started the way the hosts start them, pointed at the embedded S3
 * and SQS instead of AWS. Control host: the unit's environment file from the user data
 * (only CONFIG_SSM_PATH, the region and the app's AWS profile), the configuration read
 * from SSM Parameter Store (a test double speaking the SSM protocol), and credentials
 * from the profile's credential_process, as ics-credentials leaves them. Worker: the
 * env files its user data writes, its instance id from a stand-in IMDSv2.
 */
const script = (name: string) => readFileSync(join(WORKSPACE_ROOT, 'deploy/user-data', name), 'utf8');
const STACK = 'ics-test';

describe('the hosts\' configuration starts the built apps', () => {
  let stack: TestStack;
  let imds: Server;
  let imdsUrl: string;
  let ssm: SsmDouble;
  let dir: string;
  /** What the stack puts in SSM, pointed at the embedded S3 and SQS. */
  let parameters: Record<string, string>;
  beforeAll(async () => {
    stack = await startTestStack();
    dir = mkdtempSync(join(tmpdir(), 'hosts-'));
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
    const e = stack.env;
    const shared = {
      STACK_NAME: STACK,
      INPUT_BUCKET: e['INPUT_BUCKET'],
      OUTPUT_BUCKET: e['OUTPUT_BUCKET'],
      LAUNCH_QUEUE_URL: e['LAUNCH_QUEUE_URL'],
      MONITOR_QUEUE_URL: e['MONITOR_QUEUE_URL'],
      OUTPUT_QUEUE_URL: e['OUTPUT_QUEUE_URL'],
      MAX_WORKERS: '20',
      IDLE_SECONDS: '60',
      IMAGE_DEADLINE_SECONDS: '120',
      LOG_LEVEL: 'info',
      FLEET_PROVIDER: 'ec2',
      // Where AWS would be: the embedded S3 and SQS and their quirks.
      AWS_ENDPOINT_URL: e['AWS_ENDPOINT_URL'],
      AWS_REQUEST_CHECKSUM_CALCULATION: e['AWS_REQUEST_CHECKSUM_CALCULATION'],
      AWS_RESPONSE_CHECKSUM_VALIDATION: e['AWS_RESPONSE_CHECKSUM_VALIDATION'],
      S3_FORCE_PATH_STYLE: e['S3_FORCE_PATH_STYLE'],
      SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT: e['SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT'],
    };
    const perApp: Record<string, Record<string, string>> = {
      // API keys come from Secrets Manager on AWS; here the key itself (the web tier's own tests cover the secret).
      'web-tier': { PORT: '0', NODE_ENV: 'production', API_KEYS: 'k'.repeat(48) },
      'launch-controller': { PORT: '0', EC2_LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0' },
      'monitor-controller': { PORT: '0', EC2_LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0', LAUNCH_DEAD_LETTER_QUEUE_URL: e['LAUNCH_DEAD_LETTER_QUEUE_URL'] },
    };
    parameters = {};
    for (const [part, vars] of Object.entries({ shared, ...perApp })) {
      for (const [k, v] of Object.entries(vars)) if (v !== undefined) parameters[`/${STACK}/config/${part}/${k}`] = v;
    }
    ssm = await startSsmDouble(parameters);
    // What ics-credentials leaves for each app: credential_process JSON.
    mkdirSync(join(dir, 'run/ics/credentials'), { recursive: true });
    for (const app of CONTROL_APPS) {
      writeFileSync(
        join(dir, `run/ics/credentials/${app}.json`),
        JSON.stringify({ Version: 1, AccessKeyId: `AKID-${app}`, SecretAccessKey: 'secret', SessionToken: 'token', Expiration: new Date(Date.now() + 3600_000).toISOString() }),
      );
    }
  });
  afterAll(async () => {
    await stopAllApps();
    await new Promise<void>((r) => imds.close(() => r()));
    await ssm?.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The control host's user data with this test's values, its files moved under the test's folder. */
  function controlHost(): { unitEnv: (app: string) => Record<string, string> } {
    const text = fillPlaceholders(script('control-host.sh'), {
      AWS_REGION: 'us-east-1',
      STACK_NAME: STACK,
      ARTIFACT_BUCKET: 'ics-artifacts',
      WEB_TIER_ROLE_ARN: 'arn:aws:iam::123456789012:role/ics-test-web-tier',
      LAUNCH_CONTROLLER_ROLE_ARN: 'arn:aws:iam::123456789012:role/ics-test-launch-controller',
      MONITOR_CONTROLLER_ROLE_ARN: 'arn:aws:iam::123456789012:role/ics-test-monitor-controller',
      WEB_TIER_CONFIG_SSM_PATH: `/${STACK}/config/shared,/${STACK}/config/web-tier`,
      LAUNCH_CONTROLLER_CONFIG_SSM_PATH: `/${STACK}/config/shared,/${STACK}/config/launch-controller`,
      MONITOR_CONTROLLER_CONFIG_SSM_PATH: `/${STACK}/config/shared,/${STACK}/config/monitor-controller`,
      WEB_TIER_LOG_GROUP: `/${STACK}/web-tier`,
      LAUNCH_CONTROLLER_LOG_GROUP: `/${STACK}/launch-controller`,
      MONITOR_CONTROLLER_LOG_GROUP: `/${STACK}/monitor-controller`,
    }).replaceAll('/run/ics/', `${dir}/run/ics/`);
    const ini = /cat > \/etc\/ics\/aws-config <<'INI'\n([\s\S]*?)\nINI\n/.exec(text)?.[1] ?? '';
    const awsConfig = join(dir, 'aws-config');
    writeFileSync(awsConfig, ini);
    const files = envFilesOf(text);
    return { unitEnv: (app) => ({ ...files[`/etc/ics/${app}.env`], AWS_CONFIG_FILE: awsConfig }) };
  }

  it.each(CONTROL_APPS)('control host: %s reads its configuration from SSM with its own credentials, logs ready, stops cleanly', async (app) => {
    const { unitEnv } = controlHost();
    const env = { ...unitEnv(app), HOST: '127.0.0.1', AWS_ENDPOINT_URL_SSM: ssm.endpoint };
    expect(Object.keys(unitEnv(app)).sort()).toEqual(['AWS_CONFIG_FILE', 'AWS_PROFILE', 'AWS_REGION', 'CONFIG_SSM_PATH']);
    const before = ssm.requests.length;
    const run = spawnApp(app, env);
    try {
      await run.waitForLine(new RegExp(`${app} ready`), 90_000);
      const mine = ssm.requests.slice(before);
      // Shared first (two pages of ten), then the app's own path.
      expect([...new Set(mine.map((r) => r.body['Path']))]).toEqual([`/${STACK}/config/shared/`, `/${STACK}/config/${app}/`]);
      // Signed with the app's own credentials (its profile's credential_process), never another's.
      expect(new Set(mine.map((r) => r.accessKeyId))).toEqual(new Set([`AKID-${app}`]));
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 120_000);

  it('control host: an app whose credentials file is missing does not start, and says why', async () => {
    const { unitEnv } = controlHost();
    rmSync(join(dir, 'run/ics/credentials/monitor-controller.json'));
    const run = spawnApp('monitor-controller', { ...unitEnv('monitor-controller'), AWS_ENDPOINT_URL_SSM: ssm.endpoint });
    expect(await run.exited).toBe(2);
    expect(run.lines.join('\n')).toMatch(/CONFIG_SSM_PATH: cannot read \/ics-test\/config\/shared\/ from SSM Parameter Store/);
  }, 120_000);

  it('worker: classifier-worker reads its instance id from IMDSv2 and logs ready', async () => {
    const text = fillPlaceholders(script('worker.sh'), {
      AWS_REGION: 'us-east-1',
      STACK_NAME: STACK,
      INPUT_BUCKET: stack.env['INPUT_BUCKET'],
      OUTPUT_BUCKET: stack.env['OUTPUT_BUCKET'],
      LAUNCH_QUEUE_URL: stack.env['LAUNCH_QUEUE_URL'],
      MONITOR_QUEUE_URL: stack.env['MONITOR_QUEUE_URL'],
      OUTPUT_QUEUE_URL: stack.env['OUTPUT_QUEUE_URL'],
      // Only published to when a result is made; this test stops at ready.
      OUTPUT_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:ics-test-results',
      IDLE_SECONDS: '60',
      IMAGE_DEADLINE_SECONDS: '120',
      LOG_LEVEL: 'info',
      ARTIFACT_BUCKET: 'ics-artifacts',
      MODEL_URL: '',
      MODEL_SHA256: '',
      LOG_GROUP: `/${STACK}/classifier-worker`,
    });
    const files = envFilesOf(text);
    // Written only with a ModelUrl (the `if` the static parse cannot see).
    const { MODEL_URL, MODEL_SHA256, ...worker } = files['/etc/ics/classifier-worker.env'];
    expect([MODEL_URL, MODEL_SHA256]).toEqual(['', '']);
    const { AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REQUEST_CHECKSUM_CALCULATION, AWS_RESPONSE_CHECKSUM_VALIDATION, S3_FORCE_PATH_STYLE, SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT } = stack.env;
    const env: Record<string, string> = {
      ...files['/etc/ics/ics.env'],
      ...worker,
      AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REQUEST_CHECKSUM_CALCULATION,
      AWS_RESPONSE_CHECKSUM_VALIDATION, S3_FORCE_PATH_STYLE, SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl,
      MODEL_DIR,
      MODEL_CACHE_DIR: join(dir, 'model-cache'),
    };
    expect(env['WORKER_PLATFORM']).toBe('ec2');
    const run = spawnApp(WORKER_APP, env);
    try {
      await run.waitForLine(/classifier-worker ready/, 90_000);
      expect(run.lines.join('\n')).toContain('i-0123456789abcdef0');
    } finally {
      // No EC2 here: its state tags fail (logged as warnings) and it still stops cleanly.
      expect(await run.stop()).toBe(0);
    }
  }, 120_000);
});
