import { randomUUID } from 'node:crypto';
import type { AwsResources } from '@app/aws';
import {
  heartbeat,
  heartbeatKey,
  inputKey,
  monitorMessage,
  outputSuccess,
  parseLaunchMessage,
  resultKey,
  serialize,
  type Heartbeat,
  type MonitorMessage,
} from '@app/contracts';
import type { WorkerLiveness } from '@app/fleet';
import { MetricsRegistry } from '@app/platform';
import { memoryBucket, OneInstanceFleet, recordingQueue, MONITOR_TEST_CONFIG } from '../../test/monitor-doubles';
import { DeadlineMonitor } from './deadline-monitor';
import { GiveUp } from './give-up';

describe('DeadlineMonitor and worker sessions (restarted worker processes)', () => {
  const instanceId = 'i-0123456789abcdef0';
  const config = MONITOR_TEST_CONFIG;

  function setUp(liveness: WorkerLiveness = 'alive') {
    const out = memoryBucket();
    const launch = recordingQueue();
    const monitorQ = recordingQueue();
    const output = recordingQueue();
    const aws = { outputBucket: out.bucket, launchQueue: launch.queue, monitorQueue: monitorQ.queue, outputQueue: output.queue, resultAnnouncements: output.queue } as unknown as AwsResources;
    const fleet = new OneInstanceFleet(liveness);
    const monitor = new DeadlineMonitor(config, aws, fleet, new GiveUp(aws), new MetricsRegistry());
    const beat = (fields: Partial<Heartbeat>) =>
      out.objects.set(
        heartbeatKey(instanceId),
        serialize(heartbeat({ workerId: instanceId, at: new Date().toISOString(), progressAt: new Date().toISOString(), imagesDone: 0, held: [], handedBack: [], failed: [], ...fields })),
      );
    return { monitor, fleet, beat, objects: out.objects, launched: launch.sent, rechecks: monitorQ.sent, announced: output.sent };
  }

  /** The first check of a take by session `session`, claimed 5 s ago: its deadline and hard limit are far ahead. */
  function check(session: string): MonitorMessage {
    const batchId = randomUUID();
    const imageId = randomUUID();
    const at = (s: number) => new Date(Date.now() + s * 1000).toISOString();
    return monitorMessage({ batchId, imageId, fileName: 'cat.jpg', attempt: 1, inputKey: inputKey(batchId, imageId, 'jpg'), instanceId, session, startedAt: at(-5), deadline: at(25), hardDeadline: at(595) });
  }
  const take = (m: MonitorMessage) => ({ imageId: m.imageId, attempt: m.attempt, handBacks: 0 });

  it('re-queues at once the image a killed worker process held, once a restarted process on the same instance does not hold it', async () => {
    const { monitor, fleet, beat, launched } = setUp();
    const msg = check('session-old');
    // The restarted process (new session) announced itself after the take began, holding other work only.
    beat({ session: 'session-new', held: [{ imageId: randomUUID(), attempt: 1, handBacks: 0 }] });
    expect(await monitor.handle(serialize(msg))).toBe('requeued');
    expect(launched.map((b) => parseLaunchMessage(b))).toEqual([expect.objectContaining({ imageId: msg.imageId, attempt: 2 })]);
    expect(fleet.terminated).toEqual([]); // the instance is healthy: not ended
  });

  it('keeps watching while the session that took the image still runs, or when the new session holds it again', async () => {
    const { monitor, beat, launched, rechecks } = setUp();
    const msg = check('session-a');
    beat({ session: 'session-a', held: [take(msg)] });
    expect(await monitor.handle(serialize(msg))).toBe('watching');
    beat({ session: 'session-b', held: [take(msg)] });
    expect(await monitor.handle(serialize(msg))).toBe('watching');
    expect(launched).toEqual([]);
    expect(rechecks).toHaveLength(2);
  });

  it('a heartbeat of another session written before the take began says nothing about it', async () => {
    const { monitor, beat, launched } = setUp();
    const msg = check('session-new');
    beat({ session: 'session-old', at: new Date(Date.now() - 60_000).toISOString() });
    expect(await monitor.handle(serialize(msg))).toBe('watching');
    expect(launched).toEqual([]);
  });

  describe('a result is found', () => {
    function withResult() {
      const s = setUp();
      const msg = check('session-a');
      const result = outputSuccess({ batchId: msg.batchId, imageId: msg.imageId, fileName: msg.fileName, attempt: 1, producedBy: instanceId, completedAt: new Date().toISOString(), label: 'tabby', confidence: 0.9, top5: [], timings: {} });
      s.objects.set(resultKey(msg.imageId), serialize(result));
      return { ...s, msg, result };
    }

    it('is not announced again when the session that took it is done with it', async () => {
      const { monitor, beat, msg, announced } = withResult();
      beat({ session: 'session-a', held: [] });
      expect(await monitor.handle(serialize(msg))).toBe('done');
      expect(announced).toEqual([]);
    });

    it('is announced when that session may have died before announcing it (restarted, or still listing it)', async () => {
      const { monitor, beat, msg, result, announced } = withResult();
      beat({ session: 'session-b', held: [] });
      expect(await monitor.handle(serialize(msg))).toBe('done');
      beat({ session: 'session-a', held: [take(msg)] });
      expect(await monitor.handle(serialize(msg))).toBe('done');
      expect(announced).toEqual([serialize(result), serialize(result)]);
    });
  });
});
