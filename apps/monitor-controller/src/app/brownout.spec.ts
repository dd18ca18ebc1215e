import { randomUUID } from 'node:crypto';
import { RetryableError, UnreachableError, type AwsResources, type ObjectStore } from '@app/aws';
import { heartbeat, heartbeatKey, inputKey, monitorMessage, parseMonitorMessage, serialize, type MonitorMessage } from '@app/contracts';
import { MetricsRegistry } from '@app/platform';
import { memoryBucket, OneInstanceFleet, recordingQueue, MONITOR_TEST_CONFIG } from '../../test/monitor-doubles';
import { DeadlineMonitor, MAX_CHECK_BACKOFF_SECONDS } from './deadline-monitor';
import { GiveUp } from './give-up';
import { WorkerWatch } from './worker-watch';

/**
 * A brownout (S3, SQS or EC2 briefly failing or throttling) must never turn a
 * right answer into a wrong one: a check that fails on a transient error is
 * tried again later, never counted toward a give-up, and the fleet is asked
 * about every watched worker in one call per round.
 */
describe('the deadline monitor in a brownout', () => {
  const config = MONITOR_TEST_CONFIG;
  const instanceId = 'i-0123456789abcdef0';

  function setUp(bucketFault?: () => Error) {
    const out = memoryBucket();
    const bucket = bucketFault
      ? ({ ...out.bucket, getBuffer: async () => Promise.reject(bucketFault()), exists: async () => Promise.reject(bucketFault()) } as unknown as ObjectStore)
      : out.bucket;
    const launch = recordingQueue();
    const monitorQ = recordingQueue();
    const output = recordingQueue();
    const aws = { outputBucket: bucket, launchQueue: launch.queue, monitorQueue: monitorQ.queue, outputQueue: output.queue, resultAnnouncements: output.queue } as unknown as AwsResources;
    const fleet = new OneInstanceFleet('gone');
    const monitor = new DeadlineMonitor(config, aws, fleet, new GiveUp(aws), new MetricsRegistry());
    return { monitor, fleet, out, launched: launch.sent, rechecks: monitorQ.sent, delays: monitorQ.delays, announced: output.sent };
  }

  /** The last check of the last attempt, well past its deadline: any failure to find a result would give up. */
  function lastCheck(fields: Partial<MonitorMessage> = {}): MonitorMessage {
    const batchId = randomUUID();
    const imageId = randomUUID();
    const at = (s: number) => new Date(Date.now() + s * 1000).toISOString();
    return monitorMessage({ batchId, imageId, fileName: 'cat.jpg', attempt: 3, inputKey: inputKey(batchId, imageId, 'jpg'), instanceId, startedAt: at(-60), deadline: at(-30), ...fields });
  }

  it('a check that fails on a transient S3 error is sent again with a back-off and gives nothing up', async () => {
    const { monitor, launched, rechecks, delays, announced } = setUp(() => new RetryableError('s3.GetObject: SlowDown', 's3.GetObject'));
    const check = lastCheck();
    // Before, the error escaped: SQS delivered the check again until the dead-letter queue took it, whose watcher wrote an error result.
    expect(await monitor.handle(serialize(check))).toBe('deferred');
    expect(launched).toEqual([]);
    expect(announced).toEqual([]);
    expect(rechecks).toHaveLength(1);
    expect(parseMonitorMessage(rechecks[0])).toMatchObject({ imageId: check.imageId, attempt: 3, checkFailures: 1 });
    expect(delays[0]).toBeGreaterThanOrEqual(2); // 5 s, with jitter down to half
    expect(delays[0]).toBeLessThanOrEqual(5);
  });

  it('the back-off doubles with each failure in a row, up to its ceiling', async () => {
    const { monitor, delays } = setUp(() => new UnreachableError('s3.GetObject: ECONNREFUSED', 's3.GetObject'));
    for (const failures of [3, 20]) await monitor.handle(serialize(lastCheck({ checkFailures: failures })));
    // 4th failure: 5 s * 2^3 = 40 s (20..40 with jitter); 21st: the ceiling.
    expect(delays[0]).toBeGreaterThanOrEqual(20);
    expect(delays[0]).toBeLessThanOrEqual(40);
    expect(delays[1]).toBeGreaterThanOrEqual(MAX_CHECK_BACKOFF_SECONDS / 2);
    expect(delays[1]).toBeLessThanOrEqual(MAX_CHECK_BACKOFF_SECONDS);
  });

  it('a check that goes through again starts its failure count afresh, and a permanent error still escapes', async () => {
    const { monitor, fleet, out, rechecks } = setUp();
    (fleet as unknown as { liveness: string }).liveness = 'alive';
    out.objects.set(heartbeatKey(instanceId), serialize(heartbeat({ workerId: instanceId, at: new Date().toISOString(), progressAt: new Date().toISOString(), imagesDone: 1, held: [], handedBack: [], failed: [] })));
    const check = lastCheck({ attempt: 1, deadline: new Date(Date.now() + 30_000).toISOString(), checkFailures: 7 });
    expect(await monitor.handle(serialize(check))).toBe('watching');
    expect(parseMonitorMessage(rechecks[0]).checkFailures).toBeUndefined();

    const broken = setUp(() => new Error('a bug, not an outage'));
    await expect(broken.monitor.handle(serialize(lastCheck()))).rejects.toThrow('a bug, not an outage');
    expect(broken.rechecks).toEqual([]);
  });

  it('asks the fleet about every worker of a round in one call, not one call per worker', async () => {
    const { out } = setUp();
    const fleet = new OneInstanceFleet('alive');
    const watch = new WorkerWatch(fleet, out.bucket);
    const views = await Promise.all(Array.from({ length: 20 }, (_, i) => watch.view(`i-${String(i).padStart(17, '0')}`)));
    expect(views.every((v) => v.liveness === 'alive')).toBe(true);
    expect(fleet.statusCalls).toEqual([20]);
    // Within the view's lifetime the same workers are answered from the round already made.
    await watch.view('i-00000000000000000');
    expect(fleet.statusCalls).toEqual([20]);
  });
});
