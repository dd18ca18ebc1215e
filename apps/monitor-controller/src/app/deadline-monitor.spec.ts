import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { AwsClients, AwsResources, UnreachableError, type Queue } from '@app/aws';
import { loadConfig } from '@app/config';
import {
  attemptKey,
  heartbeat,
  heartbeatKey,
  inputKey,
  monitorMessage,
  outputSuccess,
  parseLaunchMessage,
  parseMonitorMessage,
  parseOutputMessage,
  resultKey,
  serialize,
} from '@app/contracts';
import { isProcessAlive, LocalProcessFleet, readWorkerRecord } from '@app/fleet';
import { MetricsRegistry } from '@app/platform';
import { startTestStack, until, WORKSPACE_ROOT, type TestStack } from '@tools/testing';
import { recordingQueue } from '../../test/monitor-doubles';
import { DeadlineMonitor } from './deadline-monitor';
import { GiveUp } from './give-up';

// A process that speaks the worker status protocol, to have something real to terminate.
const STATUS_PROCESS = join(WORKSPACE_ROOT, 'libs/fleet/src/testing/status-reporting-process.js');

// Each test makes S3/SQS round trips and starts a process: the bound is for a loaded machine.
jest.setTimeout(30_000);

/** Whether a process is there (signal 0 only asks). */

describe('DeadlineMonitor', () => {
  let stack: TestStack;
  let dir: string;
  let fleet: LocalProcessFleet;
  let monitor: DeadlineMonitor;

  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'mon-' });
  });
  afterAll(() => stack.stop());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'monitor-'));
    fleet = new LocalProcessFleet({ workerMain: STATUS_PROCESS, env: {}, stateDir: dir, killGraceMs: 500 });
    monitor = new DeadlineMonitor(stack.config, stack.resources, fleet, new GiveUp(stack.resources), new MetricsRegistry());
  });
  afterEach(async () => {
    await fleet.shutdown();
    rmSync(dir, { recursive: true, force: true });
    // Each test leaves the queues empty for the next.
    for (const q of [stack.resources.launchQueue, stack.resources.outputQueue, stack.resources.monitorQueue]) {
      for (;;) {
        const ms = await q.receive({ maxMessages: 10 });
        if (ms.length === 0) break;
        await q.deleteBatch(ms.map((m) => m.receiptHandle));
      }
    }
  });

  function message(attempt: number, over: { instanceId?: string; deadline?: string } = {}) {
    const batchId = randomUUID();
    const imageId = randomUUID();
    return monitorMessage({
      batchId,
      imageId,
      fileName: 'cat.jpg',
      attempt,
      inputKey: inputKey(batchId, imageId, 'jpg'),
      instanceId: over.instanceId ?? 'local-999',
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      deadline: over.deadline ?? new Date(Date.now() - 1000).toISOString(),
      hardDeadline: new Date(Date.now() + 600_000).toISOString(),
    });
  }

  /**
   * A monitor whose further checks are recorded instead of sent: the real monitor queue also holds
   * delayed checks of earlier tests, which come due at any time, so its depth cannot say what one call sent.
   */
  function recheckingMonitor() {
    const rechecks = recordingQueue();
    const resources = { ...stack.resources, monitorQueue: rechecks.queue } as AwsResources;
    return { monitor: new DeadlineMonitor(stack.config, resources, fleet, new GiveUp(stack.resources), new MetricsRegistry()), rechecks };
  }
  const checkEvery = () => stack.config.worker.livenessCheckSeconds;

  const drain = async (q: AwsResources['launchQueue']) => {
    const got = await q.receive({ maxMessages: 10 });
    await q.deleteBatch(got.map((m) => m.receiptHandle));
    return got.map((m) => m.body);
  };

  it('does nothing when the result is in the output bucket', async () => {
    const msg = message(1);
    const result = outputSuccess({
      batchId: msg.batchId,
      imageId: msg.imageId,
      fileName: msg.fileName,
      attempt: 1,
      producedBy: 'local-1',
      completedAt: new Date().toISOString(),
      label: 'tabby',
      confidence: 0.9,
      top5: [],
      timings: {},
    });
    await stack.resources.outputBucket.put(resultKey(msg.imageId), serialize(result));
    expect(await monitor.handle(serialize(msg))).toBe('done');
    expect(await drain(stack.resources.launchQueue)).toEqual([]);
  });

  it('terminates the late worker and re-queues the image as the next attempt, once', async () => {
    const [worker] = await fleet.launch(1);
    const pid = readWorkerRecord(dir, worker.id)?.pid as number;
    const msg = message(1, { instanceId: worker.id });

    expect(await monitor.handle(serialize(msg))).toBe('requeued');
    const [body] = await drain(stack.resources.launchQueue);
    expect(parseLaunchMessage(body)).toMatchObject({
      imageId: msg.imageId,
      batchId: msg.batchId,
      inputKey: msg.inputKey,
      fileName: 'cat.jpg',
      attempt: 2,
    });
    const record = JSON.parse((await stack.resources.outputBucket.getBuffer(attemptKey(msg.imageId))).toString());
    expect(record.attempt).toBe(2);
    await until('the late worker to be terminated', () => !isProcessAlive(pid));

    // The same monitor message again (SQS delivers at least once): nothing more happens.
    expect(await monitor.handle(serialize(msg))).toBe('superseded');
    expect(await drain(stack.resources.launchQueue)).toEqual([]);
  });

  it("re-queues a tenant's image as the tenant's: the launch message names it and carries it as its MessageGroupId", async () => {
    const msg = monitorMessage({ ...message(1), tenant: 'acme' });

    expect(await monitor.handle(serialize(msg))).toBe('requeued');
    const got = await stack.resources.launchQueue.receive({ maxMessages: 10 });
    await stack.resources.launchQueue.deleteBatch(got.map((m) => m.receiptHandle));
    expect(got).toHaveLength(1);
    expect(got[0].messageGroupId).toBe('acme');
    expect(parseLaunchMessage(got[0].body)).toMatchObject({ imageId: msg.imageId, attempt: 2, tenant: 'acme' });
  });

  it('after the last attempt sends an error result to the queue and the bucket, and re-queues nothing', async () => {
    const msg = message(3);
    expect(await monitor.handle(serialize(msg))).toBe('gave-up');
    const [body] = await drain(stack.resources.outputQueue);
    const result = parseOutputMessage(body);
    expect(result).toMatchObject({
      status: 'error',
      imageId: msg.imageId,
      attempt: 3,
      permanent: false,
      producedBy: 'monitor-controller',
    });
    expect(result.status === 'error' && result.reason).toMatch(/^no result after 3 attempts/);
    expect(parseOutputMessage((await stack.resources.outputBucket.getBuffer(resultKey(msg.imageId))).toString())).toEqual(result);
    expect(await drain(stack.resources.launchQueue)).toEqual([]);
  });

  it('checks an alive worker again after LIVENESS_CHECK_SECONDS while its deadline is ahead', async () => {
    const [worker] = await fleet.launch(1);
    const msg = message(1, { instanceId: worker.id, deadline: new Date(Date.now() + 60_000).toISOString() });
    const { monitor, rechecks } = recheckingMonitor();
    expect(await monitor.handle(serialize(msg))).toBe('watching');
    expect(rechecks.sent.map((b) => parseMonitorMessage(b))).toEqual([expect.objectContaining({ imageId: msg.imageId, attempt: 1 })]);
    expect(rechecks.delays).toEqual([checkEvery()]);
    expect(await drain(stack.resources.launchQueue)).toEqual([]);
  });

  it('drops a malformed message (deleted, logged) instead of looping on it', async () => {
    await stack.resources.monitorQueue.send('{"type":"monitor","imageId":"nope"}');
    const [m] = await stack.resources.monitorQueue.receive({ maxMessages: 1 });
    expect(await monitor.process(m)).toBe('malformed');
    expect(await stack.resources.monitorQueue.depth()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it('storage unreachable: the check is sent again after a back-off (never left for the dead-letter queue), and nothing is re-queued', async () => {
    // A one-second liveness check keeps the first back-off (at most that long) short.
    const brokenConfig = loadConfig({ ...stack.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1', LIVENESS_CHECK_SECONDS: '1' });
    const clients = new AwsClients(brokenConfig);
    const brokenAws = new AwsResources(brokenConfig, clients);
    const broken = new DeadlineMonitor(brokenConfig, brokenAws, fleet, new GiveUp(brokenAws), new MetricsRegistry());
    const msg = message(1);
    await stack.resources.monitorQueue.send(serialize(msg));
    const [m] = await stack.resources.monitorQueue.receive({ maxMessages: 1 });
    expect(await broken.process(m)).toBe('deferred');
    expect(await drain(stack.resources.launchQueue)).toEqual([]);
    // The deferred check comes back by itself once its back-off (at most LIVENESS_CHECK_SECONDS the first time) is over.
    // (Checks that earlier tests left in the queue are taken out on the way.)
    const deadline = Date.now() + 20_000;
    let again: ReturnType<typeof parseMonitorMessage> | undefined;
    while (!again && Date.now() < deadline) {
      for (const r of await stack.resources.monitorQueue.receive({ maxMessages: 10, waitSeconds: 5 })) {
        await stack.resources.monitorQueue.delete(r.receiptHandle);
        const check = parseMonitorMessage(r.body);
        if (check.imageId === msg.imageId) again = check;
      }
    }
    expect(again).toMatchObject({ imageId: msg.imageId, attempt: 1, checkFailures: 1 });
    clients.destroy();
  });

  it('storage and the monitor queue both unreachable: the check is left for SQS to deliver again', async () => {
    const brokenConfig = loadConfig({ ...stack.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' });
    const clients = new AwsClients(brokenConfig);
    const brokenAws = new AwsResources(brokenConfig, clients);
    const downMonitor = Object.create(stack.resources.monitorQueue) as Queue;
    downMonitor.send = () => Promise.reject(new UnreachableError('sqs.SendMessage: ECONNREFUSED', 'sqs.SendMessage'));
    const resources = { ...brokenAws, monitorQueue: downMonitor } as AwsResources;
    const broken = new DeadlineMonitor(brokenConfig, resources, fleet, new GiveUp(resources), new MetricsRegistry());
    await stack.resources.monitorQueue.send(serialize(message(1)));
    const [m] = await stack.resources.monitorQueue.receive({ maxMessages: 1 });
    expect(await broken.process(m)).toBeUndefined();
    expect(await stack.resources.monitorQueue.depth()).toMatchObject({ visible: 0, inFlight: 1 });
    expect(await drain(stack.resources.launchQueue)).toEqual([]);
    await stack.resources.monitorQueue.delete(m.receiptHandle);
    clients.destroy();
  });
  /** Writes a worker's heartbeat as the worker would. */
  async function beat(workerId: string, over: Partial<Parameters<typeof heartbeat>[0]> = {}) {
    const now = new Date().toISOString();
    const fields = { workerId, at: now, progressAt: now, imagesDone: 3, held: [], handedBack: [], failed: [], ...over };
    await stack.resources.outputBucket.put(heartbeatKey(workerId), serialize(heartbeat(fields)));
  }

  describe('dead, hung and slow workers, and crashes between two writes', () => {
    const success = (msg: ReturnType<typeof message>, producedBy = 'local-1') =>
      outputSuccess({
        batchId: msg.batchId,
        imageId: msg.imageId,
        fileName: msg.fileName,
        attempt: msg.attempt,
        producedBy,
        completedAt: new Date().toISOString(),
        label: 'tabby',
        confidence: 0.9,
        top5: [],
        timings: {},
      });

    it('a failed re-queue send is made good by the redelivered monitor message (re-queue before recording)', async () => {
      const msg = message(1);
      const down = Object.create(stack.resources.launchQueue) as Queue;
      down.send = () => Promise.reject(new UnreachableError('sqs.SendMessage: ECONNREFUSED', 'sqs.SendMessage'));
      const rechecks = recordingQueue();
      const broken = new DeadlineMonitor(stack.config, { ...stack.resources, launchQueue: down, monitorQueue: rechecks.queue } as AwsResources, fleet, new GiveUp(stack.resources), new MetricsRegistry());
      // The send failed on a transient error: the check is deferred (sent again later), nothing recorded.
      expect(await broken.handle(serialize(msg))).toBe('deferred');
      expect(rechecks.sent.map((b) => parseMonitorMessage(b).checkFailures)).toEqual([1]);
      // The deferred check comes back: the image must still be re-queued.
      expect(await monitor.handle(serialize(msg))).toBe('requeued');
      const bodies = await drain(stack.resources.launchQueue);
      expect(bodies.map((b) => parseLaunchMessage(b))).toEqual([expect.objectContaining({ imageId: msg.imageId, attempt: 2 })]);
    });

    it('announces a result it finds whose writer may have died before announcing it', async () => {
      const msg = message(1);
      const result = success(msg);
      // A worker wrote the result and died before sending the output message.
      await stack.resources.outputBucket.put(resultKey(msg.imageId), serialize(result));
      expect(await monitor.handle(serialize(msg))).toBe('done');
      expect((await drain(stack.resources.outputQueue)).map((b) => parseOutputMessage(b))).toEqual([result]);
    });

    it('a give-up never overwrites a result written meanwhile: the first result wins and is the one announced', async () => {
      const msg = message(3);
      const late = success(msg, 'local-5');
      await stack.resources.outputBucket.put(resultKey(msg.imageId), serialize(late));
      const announced = await new GiveUp(stack.resources).send(msg, 'no result after 3 attempts');
      expect(announced).toEqual(late);
      expect(parseOutputMessage((await stack.resources.outputBucket.getBuffer(resultKey(msg.imageId))).toString())).toEqual(late);
      expect((await drain(stack.resources.outputQueue)).map((b) => parseOutputMessage(b))).toEqual([late]);
    });

    it('re-queues the image of a dead worker at its first check, long before the deadline', async () => {
      const [worker] = await fleet.launch(1);
      const pid = readWorkerRecord(dir, worker.id)?.pid as number;
      process.kill(pid, 'SIGKILL');
      await until('the fleet to see the killed worker gone', async () => (await fleet.status(worker.id)) === 'gone');
      const msg = message(1, { instanceId: worker.id, deadline: new Date(Date.now() + 120_000).toISOString() });
      expect(await monitor.handle(serialize(msg))).toBe('requeued');
      expect((await drain(stack.resources.launchQueue)).map((b) => parseLaunchMessage(b))).toEqual([
        expect.objectContaining({ imageId: msg.imageId, attempt: 2 }),
      ]);
    });

    it('leaves an alive worker that is making progress alone past the deadline, and checks again later', async () => {
      const [worker] = await fleet.launch(1);
      const pid = readWorkerRecord(dir, worker.id)?.pid as number;
      const msg = message(1, { instanceId: worker.id });
      await beat(worker.id, { held: [{ imageId: msg.imageId, attempt: 1 }] });
      const { monitor, rechecks } = recheckingMonitor();
      expect(await monitor.handle(serialize(msg))).toBe('extended');
      expect(process.kill(pid, 0)).toBe(true);
      expect(await drain(stack.resources.launchQueue)).toEqual([]);
      expect(rechecks.sent.map((b) => parseMonitorMessage(b))).toEqual([expect.objectContaining({ imageId: msg.imageId, attempt: 1 })]);
      expect(rechecks.delays).toEqual([checkEvery()]);
    });
      it('terminates a hung worker (alive, no progress within the deadline) and re-queues its image', async () => {
      const [worker] = await fleet.launch(1);
      const pid = readWorkerRecord(dir, worker.id)?.pid as number;
      const msg = message(1, { instanceId: worker.id });
      await beat(worker.id, { progressAt: new Date(Date.now() - 120_000).toISOString(), held: [{ imageId: msg.imageId, attempt: 1 }] });
      expect(await monitor.handle(serialize(msg))).toBe('requeued');
      expect((await drain(stack.resources.launchQueue)).map((b) => parseLaunchMessage(b).attempt)).toEqual([2]);
      await until('the hung worker to be terminated', () => !isProcessAlive(pid));
    });

    it('retries at the hard limit even when the worker still progresses', async () => {
      const [worker] = await fleet.launch(1);
      const msg = monitorMessage({ ...message(1, { instanceId: worker.id }), hardDeadline: new Date(Date.now() - 1).toISOString() });
      await beat(worker.id, { held: [{ imageId: msg.imageId, attempt: 1 }] });
      expect(await monitor.handle(serialize(msg))).toBe('requeued');
      expect((await drain(stack.resources.launchQueue)).map((b) => parseLaunchMessage(b).attempt)).toEqual([2]);
    });

    it('ends the checks of an image its worker handed back, and retries at once one it gave up on, without terminating it', async () => {
      const [worker] = await fleet.launch(1);
      const pid = readWorkerRecord(dir, worker.id)?.pid as number;
      const future = new Date(Date.now() + 60_000).toISOString();
      const handedBack = message(1, { instanceId: worker.id, deadline: future });
      const failed = message(2, { instanceId: worker.id, deadline: future });
      await beat(worker.id, { handedBack: [{ imageId: handedBack.imageId, attempt: 1 }], failed: [{ imageId: failed.imageId, attempt: 2 }] });
      const { monitor, rechecks } = recheckingMonitor();
      expect(await monitor.handle(serialize(handedBack))).toBe('handed-back');
      expect(await monitor.handle(serialize(failed))).toBe('requeued');
      expect((await drain(stack.resources.launchQueue)).map((b) => parseLaunchMessage(b))).toEqual([expect.objectContaining({ imageId: failed.imageId, attempt: 3 })]);
      expect(process.kill(pid, 0)).toBe(true);
      expect(rechecks.sent).toEqual([]); // no further checks
    });
      it('a worker that claims again an image it handed back is watched on that new take', async () => {
      const [worker] = await fleet.launch(1);
      const future = new Date(Date.now() + 60_000).toISOString();
      const first = message(1, { instanceId: worker.id, deadline: future });
      const again = monitorMessage({ ...first, handBacks: 1 });
      await beat(worker.id, { held: [{ imageId: first.imageId, attempt: 1, handBacks: 1 }], handedBack: [{ imageId: first.imageId, attempt: 1, handBacks: 0 }] });
      expect(await monitor.handle(serialize(first))).toBe('handed-back');
      expect(await monitor.handle(serialize(again))).toBe('watching');
    });
  });
});
