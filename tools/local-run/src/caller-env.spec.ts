import { ignoredMessage, refusalMessage, SET_BY_NPM_START, sortCallerEnvironment } from './caller-env';

describe("npm start and the caller's environment", () => {
  it('passes the settings people change on to the apps', () => {
    const c = sortCallerEnvironment({ MAX_WORKERS: '4', IDLE_SECONDS: '10', MODEL_DIR: 'm', LOG_LEVEL: 'debug', MAX_FILES: '5' });
    expect(c).toEqual({ passThrough: { MAX_WORKERS: '4', IDLE_SECONDS: '10', MODEL_DIR: 'm', LOG_LEVEL: 'debug', MAX_FILES: '5' }, refused: [], ignored: [] });
  });

  it('refuses the embedded S3/SQS addresses, buckets, queues and the fleet it sets itself, naming each', () => {
    const c = sortCallerEnvironment({
      INPUT_BUCKET: 'mine',
      LAUNCH_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/q',
      AWS_ENDPOINT_URL: 'http://localhost:4566',
      AWS_ENDPOINT_URL_S3: 'http://localhost:9000',
      FLEET_PROVIDER: 'ec2',
      S3_FORCE_PATH_STYLE: 'false',
      MAX_WORKERS: '2',
    });
    expect(c.refused).toEqual(['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'FLEET_PROVIDER', 'INPUT_BUCKET', 'LAUNCH_QUEUE_URL', 'S3_FORCE_PATH_STYLE']);
    expect(c.passThrough).toEqual({ MAX_WORKERS: '2' });
    const line = refusalMessage(c);
    expect(line?.split('\n')).toHaveLength(1);
    expect(line).toMatch(/^AWS_ENDPOINT_URL, .*LAUNCH_QUEUE_URL, S3_FORCE_PATH_STYLE are set by npm start itself/);
  });

  it('only warns about shell credentials and other AWS, S3, SQS and fleet names it does not use', () => {
    const c = sortCallerEnvironment({ AWS_PROFILE: 'work', AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIA', SQS_SOMETHING: 'x', FLEET_NOTE: 'y', ARCHIVE_BUCKET: 'z' });
    expect(c).toEqual({ passThrough: {}, refused: [], ignored: ['ARCHIVE_BUCKET', 'AWS_ACCESS_KEY_ID', 'AWS_PROFILE', 'AWS_REGION', 'FLEET_NOTE', 'SQS_SOMETHING'] });
    expect(refusalMessage(c)).toBeUndefined();
    expect(ignoredMessage(c)).toBe('ignoring ARCHIVE_BUCKET, AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_REGION, FLEET_NOTE, SQS_SOMETHING: the local system uses its embedded S3/SQS with its own credentials');
  });

  it("keeps npm start's own settings and npm's variables out of the apps, without a word", () => {
    const c = sortCallerEnvironment({ PORT: '0', LOCAL_AWS_PORT: '0', LOCAL_RUN_DIR: '/tmp/x', LOCAL_FLEET: 'ec2', WEB_TIERS: '3', CONTROL_PLANES: '2', npm_lifecycle_event: 'start' });
    expect(c).toEqual({ passThrough: {}, refused: [], ignored: [] });
  });

  it('names every variable of the embedded S3/SQS among those it sets', () => {
    expect(SET_BY_NPM_START).toEqual(expect.arrayContaining(['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'INPUT_BUCKET', 'OUTPUT_BUCKET', 'LAUNCH_QUEUE_URL', 'MONITOR_QUEUE_URL', 'OUTPUT_QUEUE_URL', 'FLEET_PROVIDER', 'WORKER_MAIN']));
  });
});
