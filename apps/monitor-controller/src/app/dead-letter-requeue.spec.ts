import { randomUUID } from 'node:crypto';
import { RetryableError, type AwsResources } from '@app/aws';
import {
  attemptKey,
  inputKey,
  launchMessage,
  monitorMessage,
  parseLaunchMessage,
  parseMonitorMessage,
  parseOutputMessage,
  resultKey,
  serialize,
  type MonitorMessage,
} from '@app/contracts';
import { MetricsRegistry } from '@app/platform';
import { memoryBucket, recordingQueue, MONITOR_TEST_CONFIG } from '../../test/monitor-doubles';
import { DeadLetterWatcher, REQUEUED_CHECK_DELAY_SECONDS, REQUEUED_LAUNCH_DELAY_SECONDS } from './dead-letter-watcher';
import { GiveUp } from './give-up';

/**
 * An outage (workers SIGKILLed as they receive, S3 answering 503, a hung call)
 * dead-letters launch and monitor messages of images that would classify
 * fine. Seen in a chaos run: four launch messages received by five workers
 * that were each killed at once were answered with an error result, at
 * attempt 1, and that error stayed the images' answer.
 */
describe('DeadLetterWatcher: a dead-lettered message is not an answer', () => {
  const config = MONITOR_TEST_CONFIG;

  function setUp() {
    const out = memoryBucket();
    const launch = recordingQueue();
    const monitorQ = recordingQueue();
    const output = recordingQueue();
    const aws = { outputBucket: out.bucket, launchQueue: launch.queue, monitorQueue: monitorQ.queue, outputQueue: output.queue, resultAnnouncements: output.queue } as unknown as AwsResources;
    const watcher = new DeadLetterWatcher(aws, new GiveUp(aws), new MetricsRegistry(), config);
    return { watcher, out, launched: launch.sent, launchDelays: launch.delays, rechecks: monitorQ.sent, recheckDelays: monitorQ.delays, announced: output.sent };
  }

  function ref() {
    const batchId = randomUUID();
    const imageId = randomUUID();
    return { batchId, imageId, fileName: 'test_25.JPEG', inputKey: inputKey(batchId, imageId, 'jpg'), tenant: 'team-a' };
  }
  const launch = (attempt: number) => launchMessage({ ...ref(), attempt, enqueuedAt: new Date().toISOString() });
  const at = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
  const check = (attempt: number, fields: Partial<MonitorMessage> = {}) =>
    monitorMessage({ ...ref(), attempt, instanceId: 'local-7', startedAt: at(-60), deadline: at(-30), ...fields });

  it('a launch message dead-lettered at attempt 1 goes back to the launch queue as attempt 2, delayed; no error result is written', async () => {
    const { watcher, out, launched, launchDelays, announced } = setUp();
    const msg = launch(1);
    expect(await watcher.handle(serialize(msg), 'launch')).toBe('requeued');
    expect(launched.map(parseLaunchMessage)).toEqual([
      expect.objectContaining({ imageId: msg.imageId, batchId: msg.batchId, inputKey: msg.inputKey, fileName: msg.fileName, tenant: 'team-a', attempt: 2 }),
    ]);
    expect(launchDelays).toEqual([REQUEUED_LAUNCH_DELAY_SECONDS]);
    // Recorded after the send, so that the workers and checks of attempt 1 know they are superseded.
    expect(JSON.parse(out.objects.get(attemptKey(msg.imageId)) ?? '{}')).toMatchObject({ attempt: 2 });
    expect(out.objects.has(resultKey(msg.imageId))).toBe(false);
    expect(announced).toEqual([]);
  });

  it('only once the image attempts are spent is an error result its one answer', async () => {
    const { watcher, out, launched, announced } = setUp();
    const msg = launch(3);
    expect(await watcher.handle(serialize(msg), 'launch')).toBe('gave-up');
    expect(launched).toEqual([]);
    const stored = parseOutputMessage(out.objects.get(resultKey(msg.imageId)) ?? '');
    expect(stored).toMatchObject({ status: 'error', imageId: msg.imageId, attempt: 3, permanent: false, producedBy: 'monitor-controller' });
    expect(stored.status === 'error' && stored.reason).toMatch(/^no result after 3 attempts \(no worker could take the image: its launch message was dead-lettered/);
    expect(announced.map(parseOutputMessage)).toEqual([stored]);
  });

  it('a dead-lettered check of the last attempt, before its hard limit, goes back to the monitor queue; no error result is written', async () => {
    const { watcher, out, launched, rechecks, recheckDelays, announced } = setUp();
    const msg = check(3, { hardDeadline: at(240), checkFailures: 2 });
    expect(await watcher.handle(serialize(msg), 'monitor')).toBe('check-requeued');
    expect(rechecks.map(parseMonitorMessage)).toEqual([expect.objectContaining({ imageId: msg.imageId, attempt: 3, checkFailures: 3, instanceId: 'local-7' })]);
    expect(recheckDelays).toEqual([REQUEUED_CHECK_DELAY_SECONDS]);
    expect(launched).toEqual([]);
    expect(out.objects.has(resultKey(msg.imageId))).toBe(false);
    expect(announced).toEqual([]);
  });

  it('a dead-lettered check past its hard limit ends its take: the next attempt is queued while the image has attempts left', async () => {
    const { watcher, launched, rechecks, announced } = setUp();
    const msg = check(1, { hardDeadline: at(-1) });
    expect(await watcher.handle(serialize(msg), 'monitor')).toBe('requeued');
    expect(launched.map(parseLaunchMessage)).toEqual([expect.objectContaining({ imageId: msg.imageId, attempt: 2, tenant: 'team-a' })]);
    expect(rechecks).toEqual([]);
    expect(announced).toEqual([]);
  });

  it('while S3 answers 503 the dead-lettered message is left for its next receive: nothing launched, nothing answered', async () => {
    const { watcher, out, launched, rechecks, announced } = setUp();
    out.bucket.getBuffer = async () => Promise.reject(new RetryableError('s3.GetObject: SlowDown', 's3.GetObject'));
    await expect(watcher.handle(serialize(launch(1)), 'launch')).rejects.toThrow('SlowDown');
    await expect(watcher.handle(serialize(check(3)), 'monitor')).rejects.toThrow('SlowDown');
    expect([launched, rechecks, announced]).toEqual([[], [], []]);
    expect([...out.objects.keys()]).toEqual([]);
  });

  it('a dead-lettered message of an attempt already superseded is dropped: no second launch, no answer', async () => {
    const { watcher, out, launched, rechecks, announced } = setUp();
    const msg = launch(1);
    out.objects.set(attemptKey(msg.imageId), JSON.stringify({ attempt: 2 }));
    expect(await watcher.handle(serialize(msg), 'launch')).toBe('superseded');
    const stale = check(1, { imageId: msg.imageId, hardDeadline: at(-1) });
    expect(await watcher.handle(serialize(stale), 'monitor')).toBe('superseded');
    expect([launched, rechecks, announced]).toEqual([[], [], []]);
    expect(out.objects.has(resultKey(msg.imageId))).toBe(false);
  });
});
