import { Queue } from '@app/aws';
import { faultySqs } from '@app/aws/testing';
import { decodedImage, type Classifier } from '@app/classifier';
import { heartbeatKey, parseHeartbeat, parseLaunchMessage, parseMonitorMessage } from '@app/contracts';
import { LOCAL_CREDENTIALS } from '@tools/local-aws';
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

/**
 * A worker holding three images with room for three more, so that its next long poll is
 * waiting on the launch queue when it is told to leave; stopped once it has handed them back.
 */
async function leaveWithRoomToSpare(stack: TestStack, o: { workerId: string; launchQueue?: Queue; pollWaitSeconds: number; polling?: () => Promise<void> }) {
  const { classifier, waiting } = heldModel();
  const worker = new WorkerLoop({
    ...workerStores(stack),
    ...(o.launchQueue ? { launchQueue: o.launchQueue } : {}),
    classifier,
    workerId: o.workerId,
    settings: { pollWaitSeconds: o.pollWaitSeconds, idleSeconds: 60, imageDeadlineSeconds: 300, livenessCheckSeconds: 1, prefetch: 6 },
    log: recordingLogger().log,
  });
  const running = worker.run();
  await until('the worker to hold its three images', () => waiting.length >= 3);
  await o.polling?.();
  expect(await worker.handBackAll('spot interruption notice')).toBe(3);
  waiting.forEach((release) => release());
  expect(await running).toBe('stopped');
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
    const r = stack.resources;
    await leaveWithRoomToSpare(stack, { workerId: 'i-0fedcba9876543210', pollWaitSeconds: 5 });
    // Not delayed, not kept by this worker's poll (which may have taken them, and let them go at once):
    // every one waits for the next worker's receive.
    expect(await r.launchQueue.depth()).toEqual({ visible: 3, inFlight: 0, delayed: 0 });
    const again = await r.launchQueue.receive({ maxMessages: 10, waitSeconds: 0 });
    expect(again.map((m) => parseLaunchMessage(m.body).imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
    await r.launchQueue.deleteBatch(again.map((m) => m.receiptHandle));
    await drain(r.monitorQueue, 3, 3000);
  }, 30_000);

  it('leaves its own long poll to end rather than cut it: SQS still answers a poll whose client has gone, and would hide the images handed back for a whole visibility timeout', async () => {
    const sent = await enqueue(stack, photos(3));
    const r = stack.resources;
    // Between the worker and the embedded SQS, as SQS itself behaves: a receive the worker
    // aborts goes on upstream, takes what arrives, and its answer is thrown away.
    // Receives sent and answered: one sent and not yet answered is a long poll waiting.
    let receives = 0;
    let answered = 0;
    const sqs = await faultySqs(stack.aws.endpoint, LOCAL_CREDENTIALS, (action) => {
      if (action !== 'ReceiveMessage') return undefined;
      receives++;
      return { rewrite: (body) => (answered++, body) };
    });
    try {
      await leaveWithRoomToSpare(stack, {
        workerId: 'i-0aaaabbbbccccdddd',
        launchQueue: new Queue(sqs.sqs, r.launchQueue.url),
        pollWaitSeconds: 10,
        // The poll may have gone before the last image reached the model (the budget had room): it is waiting still.
        polling: () => until('its long poll to be waiting', () => receives > answered),
      });
      // Every image handed back can be received at once (the launch queue hides a taken message for 15 s).
      const again = (await drain(r.launchQueue, 3, 2000)).map(parseLaunchMessage);
      expect(again.map((m) => m.imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
      expect(await r.launchQueue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    } finally {
      await sqs.stop();
    }
    await drain(r.monitorQueue, 3, 3000);
  }, 30_000);
});
