import { ConfigError, loadConfig } from './app-config';

const queues = {
  LAUNCH_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/launch',
  MONITOR_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/monitor',
  OUTPUT_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/output',
};

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({ ...queues });
    expect(c.fleet).toEqual({ maxWorkers: 20, idleSeconds: 60, maxAttempts: 3 });
    expect(c.buckets).toEqual({ input: 'ics-input', output: 'ics-output' });
    expect(c.aws).toEqual({
      region: 'us-east-1',
      endpoints: { s3: undefined, sqs: undefined, ec2: undefined },
      s3ForcePathStyle: false,
      requestChecksumCalculation: 'WHEN_SUPPORTED',
      responseChecksumValidation: 'WHEN_SUPPORTED',
      sqsVisibleCountIncludesInFlight: false,
    });
    expect(c.http.port).toBe(3000);
  });

  it('takes OUTPUT_TOPIC_ARN as an SNS topic ARN and refuses anything else', () => {
    expect(loadConfig({ ...queues }).topics.output).toBeUndefined();
    expect(loadConfig({ ...queues, OUTPUT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:ics-results' }).topics.output).toBe('arn:aws:sns:eu-west-1:123456789012:ics-results');
    expect(() => loadConfig({ ...queues, OUTPUT_TOPIC_ARN: 'arn:aws:sqs:eu-west-1:123456789012:ics-results' })).toThrow(/OUTPUT_TOPIC_ARN must be an SNS topic ARN/);
  });

  it('resolves per-service endpoints like the AWS SDK: specific first, then AWS_ENDPOINT_URL', () => {
    const c = loadConfig({
      ...queues,
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      AWS_ENDPOINT_URL_SQS: 'http://localhost:9324',
      MAX_WORKERS: '4',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    });
    expect(c.aws.endpoints).toEqual({
      s3: 'http://127.0.0.1:4566',
      sqs: 'http://localhost:9324',
      ec2: 'http://127.0.0.1:4566',
      sns: 'http://127.0.0.1:4566',
    });
    expect(c.aws.s3ForcePathStyle).toBe(true);
    expect(c.aws.requestChecksumCalculation).toBe('WHEN_REQUIRED');
    expect(c.fleet.maxWorkers).toBe(4);
  });

  it('names each bad variable and what was wrong with it', () => {
    const p = problems({
      LAUNCH_QUEUE_URL: queues.LAUNCH_QUEUE_URL,
      OUTPUT_QUEUE_URL: 'not a url',
      MAX_WORKERS: 'twenty',
      IDLE_SECONDS: '0',
      INPUT_BUCKET: 'My_Bucket',
      S3_FORCE_PATH_STYLE: 'yes',
    });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^MONITOR_QUEUE_URL: .*URL.* \(it is not set\)$/),
        expect.stringMatching(/^OUTPUT_QUEUE_URL: .*URL.* \(got "not a url"\)$/),
        expect.stringMatching(/^MAX_WORKERS: .*integer.* \(got "twenty"\)$/),
        expect.stringMatching(/^IDLE_SECONDS: .*not be less than 1 \(got "0"\)$/),
        'INPUT_BUCKET: INPUT_BUCKET must be a valid S3 bucket name (got "My_Bucket")',
        expect.stringMatching(/^S3_FORCE_PATH_STYLE: .*boolean.* \(got "yes"\)$/),
      ]),
    );
    expect(p).toHaveLength(6);
  });

  it('treats empty variables as unset and ignores unrelated ones', () => {
    const c = loadConfig({ ...queues, MAX_WORKERS: '', HOME: '/root' });
    expect(c.fleet.maxWorkers).toBe(20);
  });
});

describe('capability sections', () => {
  it('reads the worker, web and scaling variables with their defaults', () => {
    const c = loadConfig({
      ...queues,
      MODEL_DIR: '/models/m',
      API_KEYS: 'a, b,,',
      EC2_SECURITY_GROUP_IDS: 'sg-1,sg-2',
      FLEET_PROVIDER: 'ec2',
    });
    expect(c.worker).toMatchObject({ modelDir: '/models/m', tfBackend: 'auto', platform: 'local', imageDeadlineSeconds: 120 });
    expect(c.web).toMatchObject({ maxFiles: 100, maxFileBytes: 10485760, classicTimeoutSeconds: 300, apiKeys: ['a', 'b'] });
    expect(c.scaling).toMatchObject({ provider: 'ec2', targetBacklogPerWorker: 1, tickMs: 1000 });
    expect(c.scaling.ec2.securityGroupIds).toEqual(['sg-1', 'sg-2']);
  });

  it('reads what the scaling policy assumes of a worker, with a boot time that depends on the provider', () => {
    const local = loadConfig({ ...queues });
    expect(local.scaling).toMatchObject({
      policy: 'work-per-worker',
      workerBootSeconds: 3,
      imageSeconds: 0.2,
      workerConcurrency: 1,
      launchInFlightSeconds: 120,
      launchBackoffMs: 2000,
      launchBackoffMaxMs: 60_000,
    });
    expect(loadConfig({ ...queues, FLEET_PROVIDER: 'ec2' }).scaling.workerBootSeconds).toBe(30);
    const set = loadConfig({ ...queues, SCALING_POLICY: 'one-per-message', WORKER_BOOT_SECONDS: '45.5', IMAGE_SECONDS: '0.15', WORKER_CONCURRENCY: '2' });
    expect(set.scaling).toMatchObject({ policy: 'one-per-message', workerBootSeconds: 45.5, imageSeconds: 0.15, workerConcurrency: 2 });
    expect(() => loadConfig({ ...queues, SCALING_POLICY: 'greedy', IMAGE_SECONDS: '0', WORKER_BOOT_SECONDS: 'slow' })).toThrow(
      /SCALING_POLICY: .*\(got "greedy"\)\n.*WORKER_BOOT_SECONDS: .*\(got "slow"\)\n.*IMAGE_SECONDS: .*not be less than 0.001 \(got "0"\)/,
    );
  });

  it('reports problems from every section at once', () => {
    expect(() => loadConfig({ ...queues, TF_BACKEND: 'gpu', MAX_FILES: '0', FLEET_PROVIDER: 'k8s' })).toThrow(
      /TF_BACKEND: .*\n.*MAX_FILES: .*\n.*FLEET_PROVIDER: /,
    );
  });
});
