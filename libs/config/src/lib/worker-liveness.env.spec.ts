import { ConfigError, loadConfig } from './app-config';

const queues = {
  LAUNCH_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/launch',
  MONITOR_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/monitor',
  OUTPUT_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/output',
};

describe('liveness and hand-back variables', () => {
  it('has the documented defaults', () => {
    expect(loadConfig(queues).worker).toMatchObject({
      imageDeadlineSeconds: 120,
      imageHardLimitSeconds: 600,
      livenessCheckSeconds: 5,
      heartbeatSeconds: 2,
      maxHandBacks: 8,
    });
  });

  it('never lets the hard limit fall below the deadline', () => {
    expect(loadConfig({ ...queues, IMAGE_DEADLINE_SECONDS: '900', IMAGE_HARD_LIMIT_SECONDS: '60' }).worker.imageHardLimitSeconds).toBe(900);
  });

  it('refuses a check interval beyond the 15-minute SQS delay, naming the variable', () => {
    let problems: string[] = [];
    try {
      loadConfig({ ...queues, LIVENESS_CHECK_SECONDS: '901', HEARTBEAT_SECONDS: '0', MAX_HAND_BACKS: '-1' });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      problems = (e as ConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^LIVENESS_CHECK_SECONDS: .*900/),
      expect.stringMatching(/^HEARTBEAT_SECONDS: /),
      expect.stringMatching(/^MAX_HAND_BACKS: /),
    ]);
  });
});
