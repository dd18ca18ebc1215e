import { decodedImage, type Classifier } from '@app/classifier';
import { heartbeatKey, parseHeartbeat, parseLaunchMessage, parseMonitorMessage } from '@app/contracts';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { drain, enqueue, photos, recordingLogger, workerStores } from '../../test/worker-test-kit';
import { WorkerLoop } from './worker-loop';

/** A model that holds every image until released: the images stay in the worker. */
function heldModel() {
  const waiting: (() => void)[] = [];
  const classifier: Pick<Classifier, 'decode' | 'infer' | 'backend' | 'model'> = {
    backend: 'fake',
    model: 'held',
    decode: async () => decodedImage(new Uint8Array(3), [0, 1], 'jpeg', 0),
    infer: async () => {
      await new Promise<void>((r) => waiting.push(r));
      return { top5: [{ label: 'tabby', classIndex: 1, confidence: 0.9 }], inferenceMs: 1, batchSize: 1 } as unknown as Awaited<ReturnType<Classifier['infer']>>;
    },
  };
  return { classifier, waiting };
}

describe('WorkerLoop.handBackAll (a worker about to disappear)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'handback-' });
  });
  afterAll(() => stack.stop());

  it('hands every image it holds back for immediate re-delivery, lists them as handed back, and stops', async () => {
    const sent = await enqueue(stack, photos(3));
    const { classifier, waiting } = heldModel();
    const { log, lines } = recordingLogger();
    const r = stack.resources;
    const worker = new WorkerLoop({
      ...workerStores(stack),
      classifier,
      workerId: 'i-0123456789abcdef0',
      settings: { pollWaitSeconds: 1, idleSeconds: 60, imageDeadlineSeconds: 300, livenessCheckSeconds: 1, prefetch: 3 },
      log,
    });
    const running = worker.run();
    await until('the worker to hold its three images', () => waiting.length >= 3);

    expect(await worker.handBackAll('spot interruption notice')).toBe(3);
    // Back in the launch queue at once (no delay), the same attempt, as a new take.
    const again = (await drain(r.launchQueue, 3, 3000)).map(parseLaunchMessage);
    expect(again.map((m) => m.imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
    expect(again.every((m) => m.attempt === 1 && m.handBacks === 1)).toBe(true);
    const beat = parseHeartbeat((await r.outputBucket.getBuffer(heartbeatKey('i-0123456789abcdef0'))).toString());
    expect(beat.session).toBe(worker.session);
    expect(beat.handedBack.map((h) => h.imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
    expect(beat.held).toEqual([]);

    waiting.forEach((release) => release());
    expect(await running).toBe('stopped');
    // The model's late answers are not published: the new takes will be.
    expect(await drain(r.outputQueue, 1, 500)).toEqual([]);
    expect(lines.some((l) => l.msg === 'every image held handed back')).toBe(true);
    // Each claim's check names this process's session.
    const checks = (await drain(r.monitorQueue, 3, 5000)).map(parseMonitorMessage);
    expect(checks.map((c) => c.session)).toEqual([worker.session, worker.session, worker.session]);
  }, 30_000);

  it('hands back visible at once even while its own long poll is waiting (room to spare): none is swallowed by the leaving worker', async () => {
    const sent = await enqueue(stack, photos(3));
    const { classifier, waiting } = heldModel();
    const r = stack.resources;
    // Room for 3 more: the worker's next long poll is waiting on the launch queue when it is told to leave.
    const worker = new WorkerLoop({
      ...workerStores(stack),
      classifier,
      workerId: 'i-0fedcba9876543210',
      settings: { pollWaitSeconds: 5, idleSeconds: 60, imageDeadlineSeconds: 300, livenessCheckSeconds: 1, prefetch: 6 },
      log: recordingLogger().log,
    });
    const running = worker.run();
    await until('the worker to hold its three images', () => waiting.length >= 3);

    expect(await worker.handBackAll('spot interruption notice')).toBe(3);
    // Not delayed, not taken by this worker's poll: every one waits for the next worker's receive.
    expect(await r.launchQueue.depth()).toEqual({ visible: 3, inFlight: 0, delayed: 0 });
    const again = await r.launchQueue.receive({ maxMessages: 10, waitSeconds: 0 });
    expect(again.map((m) => parseLaunchMessage(m.body).imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
    await r.launchQueue.deleteBatch(again.map((m) => m.receiptHandle));

    waiting.forEach((release) => release());
    expect(await running).toBe('stopped');
    await drain(r.monitorQueue, 3, 3000);
  }, 30_000);
});
