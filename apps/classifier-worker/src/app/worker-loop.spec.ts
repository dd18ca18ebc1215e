import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RetryableError, SQS_BATCH_LIMIT, UnreachableError, type ObjectStore, type Queue } from '@app/aws';
import { Classifier, InferenceError } from '@app/classifier';
import { attemptKey, heartbeatKey, outputError, parseHeartbeat, parseMonitorMessage, resultKey, serialize, type WorkerState } from '@app/contracts';
import { eventually, MODEL_DIR, sleep, startTestStack, until, type TestStack } from '@tools/testing';
import { drain, enqueue, outputs, photos, recordingLogger, SAMPLE_IMAGES, storedResult, workerStores } from '../../test/worker-test-kit';
import { WorkerLoop, type WorkerLoopDeps, type WorkerLoopSettings } from './worker-loop';

// A second of idleness ends a run: each test's run() returns soon after its last image.
const settings: WorkerLoopSettings = { pollWaitSeconds: 1, idleSeconds: 1, imageDeadlineSeconds: 300, livenessCheckSeconds: 60, prefetch: 20 };

/** Nothing waits on the queue, not even in flight: after run() has returned, nothing more will come. */
const emptyQueue = { visible: 0, inFlight: 0, delayed: 0 };

describe('WorkerLoop against the embedded S3/SQS', () => {
  let classifier: Classifier;
  let stack: TestStack;
  beforeAll(async () => {
    classifier = await Classifier.create({ modelDir: MODEL_DIR });
  }, 60_000);
  afterAll(() => classifier.close());
  beforeEach(async () => {
    stack = await startTestStack();
  });
  afterEach(() => stack.stop());

  function loop(over: Partial<WorkerLoopDeps> = {}, s: Partial<WorkerLoopSettings> = {}) {
    const { log, lines } = recordingLogger();
    const states: [WorkerState, number][] = [];
    const worker = new WorkerLoop({
      ...workerStores(stack),
      classifier,
      workerId: 'local-7',
      settings: { ...settings, ...s },
      log,
      onState: (state, done) => states.push([state, done]),
      ...over,
    });
    return { worker, lines, states };
  }

  it('takes launch messages, writes each result to the bucket and the output queue, sends monitor messages, deletes launch messages', async () => {
    const sent = await enqueue(stack, photos(12));
    const { worker, lines, states } = loop();
    expect(await worker.run()).toBe('idle');
    expect(worker.done).toBe(12);

    const out = await outputs(stack, 12);
    expect(out.map((o) => o.imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
    for (const o of out) {
      expect(o).toMatchObject({ status: 'ok', producedBy: 'local-7', backend: classifier.backend, model: 'mobilenet_v1_025_224', attempt: 1 });
      if (o.status !== 'ok') continue;
      expect(o.top5).toHaveLength(5);
      expect(o.timings).toEqual({
        queueMs: expect.any(Number),
        downloadMs: expect.any(Number),
        decodeMs: expect.any(Number),
        inferenceMs: expect.any(Number),
        totalMs: expect.any(Number),
      });
      // The stored result is the same message, readable with parseOutputMessage.
      expect(await storedResult(stack, o.imageId)).toEqual(o);
    }
    const launch = await stack.resources.launchQueue.depth();
    expect(launch).toMatchObject({ visible: 0, inFlight: 0 });
    // Monitor messages wait (delayed) until the image's deadline.
    expect((await stack.resources.monitorQueue.depth()).delayed).toBe(12);

    const done = lines.filter((l) => l.msg === 'image classified');
    expect(done).toHaveLength(12);
    expect(done[0].fields).toMatchObject({
      imageId: expect.any(String),
      batchId: sent[0].batchId,
      attempt: 1,
      timings: expect.objectContaining({ claimMs: expect.any(Number), inferMs: expect.any(Number), publishMs: expect.any(Number) }),
    });
    expect(states[0]).toEqual(['free', 0]);
    expect(states).toContainEqual(['busy', 0]);
    expect(states.at(-2)).toEqual(['free', 12]);
    expect(states.at(-1)).toEqual(['stopping', 12]);
  }, 30_000);

  it('announces the last results of a burst at once: the output linger waits only while other images are on their way', async () => {
    await enqueue(stack, photos(3));
    const { worker } = loop({}, { outputLingerMs: 60_000 });
    const running = worker.run();
    // Before, these waited out the linger (60 s here, 0.1 s by default) for company that could not come.
    expect(await outputs(stack, 3, 8_000)).toHaveLength(3);
    expect(await running).toBe('idle');
  }, 30_000);

  it('claims each image with its first check, delayed by LIVENESS_CHECK_SECONDS, naming the worker, the image, the attempt, its tenant and its deadlines', async () => {
    const [sent] = await enqueue(stack, photos(1), 2, 'acme');
    const { worker } = loop({}, { imageDeadlineSeconds: 30, imageHardLimitSeconds: 90, livenessCheckSeconds: 5, idleSeconds: 1 });
    const before = Date.now();
    await worker.run();
    expect(await stack.resources.monitorQueue.depth()).toMatchObject({ visible: 0, delayed: 1 }); // not yet due
    const [body] = await drain(stack.resources.monitorQueue, 1, 10_000);
    expect(Date.now() - before).toBeGreaterThanOrEqual(4000);
    const monitor = parseMonitorMessage(body);
    expect(monitor).toMatchObject({
      imageId: sent.imageId,
      batchId: sent.batchId,
      inputKey: sent.inputKey,
      attempt: 2,
      instanceId: 'local-7',
      tenant: 'acme',
    });
    expect(Date.parse(monitor.deadline) - Date.parse(monitor.startedAt)).toBe(30_000);
    expect(Date.parse(monitor.hardDeadline ?? '') - Date.parse(monitor.startedAt)).toBe(90_000);
  }, 30_000);

  it('reports undecodable and missing images at once as permanent errors, and carries on', async () => {
    const jpeg = photos(1)[0].bytes;
    const sent = await enqueue(stack, [
      { bytes: Buffer.alloc(0), ext: 'jpg', name: 'empty.jpg' },
      { bytes: Buffer.from('just some text\n'), ext: 'jpg', name: 'text.jpg' },
      { bytes: jpeg.subarray(0, Math.floor(jpeg.length / 2)), ext: 'jpg', name: 'truncated.jpg' },
      { bytes: jpeg, ext: 'jpg', name: 'gone.jpg', missing: true },
      { bytes: readFileSync(join(SAMPLE_IMAGES, 'scene_0.jpg')), ext: 'jpg', name: 'scene.jpg' },
    ]);
    const { worker, lines } = loop();
    expect(await worker.run()).toBe('idle');
    const out = await outputs(stack, 5);
    const byName = Object.fromEntries(out.map((o) => [o.fileName, o]));
    for (const name of ['empty.jpg', 'text.jpg', 'truncated.jpg', 'gone.jpg']) {
      expect(byName[name]).toMatchObject({ status: 'error', permanent: true, producedBy: 'local-7' });
    }
    expect(byName['empty.jpg']).toMatchObject({ reason: 'image is empty (0 bytes)' });
    expect(byName['text.jpg']).toMatchObject({ reason: 'not a JPEG, PNG, WebP or GIF image' });
    expect(byName['truncated.jpg']).toMatchObject({ reason: expect.stringMatching(/^image cannot be decoded \(jpeg\)/) });
    expect(byName['gone.jpg']).toMatchObject({ reason: 'image not found in the input bucket' });
    // The same label as the model gives the same bytes in this process.
    const { label } = await classifier.classify(readFileSync(join(SAMPLE_IMAGES, 'scene_0.jpg')));
    expect(byName['scene.jpg']).toMatchObject({ status: 'ok', label });
    for (const m of sent) expect(await storedResult(stack, m.imageId)).toBeDefined();
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 0, inFlight: 0 });
    expect(lines.filter((l) => l.msg === 'image refused (permanent error)')).toHaveLength(4);
  }, 30_000);

  it('deletes a malformed launch message after logging it', async () => {
    await stack.resources.launchQueue.send('{"v":1,"type":"launch","imageId":"nope"}');
    const { worker, lines } = loop();
    expect(await worker.run()).toBe('idle');
    expect(lines.find((l) => l.msg === 'malformed launch message deleted')?.fields['problems']).toEqual(
      expect.arrayContaining(['imageId must be a UUID']),
    );
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 0, inFlight: 0 });
    expect(await stack.resources.outputQueue.depth()).toEqual(emptyQueue);
  }, 30_000);

  it('ends with "idle" after idleSeconds without a message', async () => {
    const { worker, states } = loop({}, { idleSeconds: 1, pollWaitSeconds: 20 });
    const started = Date.now();
    expect(await worker.run()).toBe('idle');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(3500); // the long poll (20 s) is cut to the idle time left
    expect(states.map(([s]) => s)).toEqual(['free', 'stopping']);
  }, 30_000);

  it('stop() mid-image: stops polling, finishes every image it took, loses none', async () => {
    const sent = await enqueue(stack, photos(40));
    const { worker, lines } = loop({}, { idleSeconds: 60 });
    const running = worker.run();
    await until('a first image classified', () => lines.some((l) => l.msg === 'image classified'), 20_000, 5);
    await worker.stop();
    expect(await running).toBe('stopped');
    const finished = worker.done;
    expect(finished).toBeGreaterThan(0);
    // Every image is either finished (result stored, output sent) or still in the launch queue.
    const results = (await Promise.all(sent.map((m) => storedResult(stack, m.imageId)))).filter(Boolean);
    expect(results).toHaveLength(finished);
    expect(await outputs(stack, finished, 3000)).toHaveLength(finished);
    // Messages waiting for room were released at once; one a cut-short poll took comes back after its visibility timeout.
    const left = await stack.resources.launchQueue.depth();
    expect(left.inFlight).toBeLessThanOrEqual(SQS_BATCH_LIMIT);
    expect(finished + left.visible + left.inFlight).toBe(40);
  }, 30_000);

  it('leaves an image in the launch queue when its monitor message cannot be sent', async () => {
    await enqueue(stack, photos(3));
    const broken = Object.create(stack.resources.monitorQueue) as Queue;
    broken.sendBatch = () => Promise.reject(new Error('monitor queue down'));
    const { worker, lines } = loop({ monitorQueue: broken });
    expect(await worker.run()).toBe('idle');
    expect(worker.done).toBe(0);
    // Received but not deleted: they come back after the visibility timeout.
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ inFlight: 3 });
    expect(await stack.resources.outputQueue.depth()).toEqual(emptyQueue);
    expect(lines.some((l) => l.msg === 'cannot send monitor messages: images left in the launch queue')).toBe(true);
  }, 30_000);

  it('backs off and goes on when the launch queue cannot be reached, and stops at once meanwhile', async () => {
    await enqueue(stack, photos(2));
    const flaky = Object.create(stack.resources.launchQueue) as Queue;
    let failures = 2;
    flaky.receive = (o) => (failures-- > 0 ? Promise.reject(new UnreachableError('sqs.ReceiveMessage: ECONNREFUSED', 'sqs.ReceiveMessage')) : stack.resources.launchQueue.receive(o));
    const { worker, lines } = loop({ launchQueue: flaky }, { idleSeconds: 2 });
    expect(await worker.run()).toBe('idle');
    expect(worker.done).toBe(2);
    // Two failed receives, each backed off (exponential, with jitter) and logged; then it recovered.
    const backoffs = lines.filter((l) => l.msg === 'cannot receive from the launch queue').map((l) => l.fields['retryInMs'] as number);
    expect(backoffs).toHaveLength(2);
    expect(backoffs.every((ms) => ms > 0)).toBe(true);

    const down = Object.create(stack.resources.launchQueue) as Queue;
    down.receive = () => Promise.reject(new UnreachableError('down', 'sqs.ReceiveMessage'));
    const second = loop({ launchQueue: down }, { idleSeconds: 60 });
    const running = second.worker.run();
    // The failed receive is logged as its back-off starts.
    await until('a back-off after a failed receive', () => second.lines.some((l) => l.msg === 'cannot receive from the launch queue'));
    const stopping = Date.now();
    await second.worker.stop();
    expect(await running).toBe('stopped');
    expect(Date.now() - stopping).toBeLessThan(1000); // not after the back-off (up to 5 s); one last heartbeat write is in it
  }, 30_000);

  it('still finishes an image whose launch message could not be deleted (a redo is harmless)', async () => {
    const [sent] = await enqueue(stack, photos(1));
    const noDelete = Object.create(stack.resources.launchQueue) as Queue;
    noDelete.deleteBatch = () => Promise.reject(new RetryableError('sqs.DeleteMessageBatch: InternalError', 'sqs.DeleteMessageBatch'));
    noDelete.delete = () => Promise.reject(new RetryableError('sqs.DeleteMessage: InternalError', 'sqs.DeleteMessage'));
    const { worker, lines } = loop({ launchQueue: noDelete });
    expect(await worker.run()).toBe('idle');
    expect(await storedResult(stack, sent.imageId)).toMatchObject({ status: 'ok' });
    expect(lines.some((l) => l.msg === 'cannot delete launch messages')).toBe(true);
    expect((await stack.resources.launchQueue.depth()).inFlight).toBe(1); // it will come back
  }, 30_000);

  it("hands an image back (still the tenant's) when its result cannot be written, and after MAX_HAND_BACKS leaves it to the monitor (heartbeat), announcing nothing", async () => {
    const [sent] = await enqueue(stack, photos(1), 1, 'acme');
    const noPut = Object.create(stack.resources.outputBucket) as ObjectStore;
    noPut.putIfAbsent = () => Promise.reject(new RetryableError('s3.PutObject: SlowDown', 's3.PutObject'));
    // The hand-back's send, seen on its way to the real launch queue.
    const handedBackAs: (string | undefined)[] = [];
    const launch = Object.create(stack.resources.launchQueue) as Queue;
    launch.send = (body, delaySeconds, groupId) => {
      handedBackAs.push(groupId);
      return stack.resources.launchQueue.send(body, delaySeconds, groupId);
    };
    const { worker, lines } = loop({ outputBucket: noPut, launchQueue: launch }, { maxHandBacks: 1, idleSeconds: 4 });
    expect(await worker.run()).toBe('idle');
    expect(worker.done).toBe(0);
    expect(lines.filter((l) => l.msg === 'image handed back after a passing failure').map((l) => l.fields)).toEqual([
      expect.objectContaining({ imageId: sent.imageId, attempt: 1, handBacks: 1, reason: 's3.PutObject: SlowDown' }),
    ]);
    expect(lines.find((l) => l.msg === 'image failed; the monitor controller will retry it')?.fields['reason']).toBe('s3.PutObject: SlowDown');
    expect(await stack.resources.outputQueue.depth()).toEqual(emptyQueue);
    const beat = parseHeartbeat((await stack.resources.outputBucket.getBuffer(heartbeatKey('local-7'))).toString());
    // The take handed back (handBacks 0), then the new take (handBacks 1) given up.
    expect(beat.handedBack).toEqual([{ imageId: sent.imageId, attempt: 1, handBacks: 0 }]);
    expect(beat.failed).toEqual([{ imageId: sent.imageId, attempt: 1, handBacks: 1 }]);
    expect(handedBackAs).toEqual(['acme']);
  }, 30_000);

  it('writes no result when the image cannot be read for a passing reason: handed back, then left to the monitor', async () => {
    const [sent] = await enqueue(stack, photos(1));
    const noGet = Object.create(stack.resources.inputBucket) as ObjectStore;
    noGet.getBuffer = () => Promise.reject(new UnreachableError('s3.GetObject: ECONNRESET', 's3.GetObject'));
    const { worker, lines } = loop({ inputBucket: noGet }, { maxHandBacks: 0 });
    expect(await worker.run()).toBe('idle');
    expect(lines.find((l) => l.msg === 'image failed; the monitor controller will retry it')?.fields).toMatchObject({
      imageId: sent.imageId,
      reason: 's3.GetObject: ECONNRESET',
    });
    expect(await storedResult(stack, sent.imageId)).toBeUndefined();
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 0, inFlight: 0 });
    const beat = parseHeartbeat((await stack.resources.outputBucket.getBuffer(heartbeatKey('local-7'))).toString());
    expect(beat.failed).toEqual([{ imageId: sent.imageId, attempt: 1, handBacks: 0 }]);
  }, 30_000);

  it('stops with "failed" when the classifier itself breaks, taking no more work', async () => {
    await enqueue(stack, photos(30));
    const broken = {
      backend: 'wasm',
      model: 'm',
      decode: classifier.decode.bind(classifier),
      infer: () => Promise.reject(new InferenceError('inference thread exited with code 1')),
    };
    const { worker, lines } = loop({ classifier: broken }, { prefetch: 10, idleSeconds: 60 });
    expect(await worker.run()).toBe('failed');
    expect(lines.some((l) => l.msg === 'the classifier failed: stopping')).toBe(true);
    // Only what fitted its prefetch (at most 10) was taken; the rest wait for a healthy worker.
    expect((await stack.resources.launchQueue.depth()).visible).toBeGreaterThanOrEqual(20);
  }, 30_000);
  describe('superseded attempts, passing failures and deadlines', () => {
    it('discards the late work of a superseded attempt instead of writing it', async () => {
      const [sent] = await enqueue(stack, photos(1));
      // The model is still at work on attempt 1 when the take's first check comes due (after 1 s);
      // acting on it, the monitor re-queues the image as attempt 2.
      const late = {
        backend: classifier.backend,
        model: classifier.model,
        decode: classifier.decode.bind(classifier),
        infer: async (d: Parameters<Classifier['infer']>[0]) => {
          expect(await drain(stack.resources.monitorQueue, 1)).toHaveLength(1);
          await stack.resources.outputBucket.put(attemptKey(sent.imageId), JSON.stringify({ attempt: 2, at: new Date().toISOString() }));
          return classifier.infer(d);
        },
      };
      const { worker } = loop({ classifier: late }, { livenessCheckSeconds: 1 });
      expect(await worker.run()).toBe('idle');
      expect(await storedResult(stack, sent.imageId)).toBeUndefined();
      expect(await stack.resources.outputQueue.depth()).toEqual(emptyQueue);
    }, 30_000);

    it('the first result written wins: a worker never overwrites an answer, and announces the one there', async () => {
      const [sent] = await enqueue(stack, photos(1), 3);
      const gaveUp = outputError({ batchId: sent.batchId, imageId: sent.imageId, fileName: sent.fileName, attempt: 3, producedBy: 'monitor-controller', completedAt: new Date().toISOString(), reason: 'no result after 3 attempts', permanent: false });
      await stack.resources.outputBucket.put(resultKey(sent.imageId), serialize(gaveUp));
      const { worker } = loop();
      expect(await worker.run()).toBe('idle');
      expect(await storedResult(stack, sent.imageId)).toEqual(gaveUp);
      expect(await outputs(stack, 1, 3000)).toEqual([gaveUp]);
    }, 30_000);

    it('a transient read error hands that one image back, without losing an attempt; the others go on', async () => {
      const sent = await enqueue(stack, photos(5));
      const flaky = Object.create(stack.resources.inputBucket) as ObjectStore;
      let failed = false;
      flaky.getBuffer = (key: string) => {
        if (!failed && key === sent[2].inputKey) {
          failed = true;
          return Promise.reject(new RetryableError('s3.GetObject: SlowDown', 's3.GetObject'));
        }
        return stack.resources.inputBucket.getBuffer(key);
      };
      const { worker } = loop({ inputBucket: flaky }, { idleSeconds: 4 });
      expect(await worker.run()).toBe('idle');
      for (const m of sent) expect(await storedResult(stack, m.imageId)).toMatchObject({ status: 'ok', attempt: 1 });
    }, 30_000);

    it('holds no more images than it can finish before their deadline', async () => {
      await enqueue(stack, photos(12));
      const slow = {
        backend: classifier.backend,
        model: classifier.model,
        decode: classifier.decode.bind(classifier),
        infer: async (d: Parameters<Classifier['infer']>[0]) => {
          // fixed wait: the model's wall time is what the prefetch budget measures; this is a slow model, not a wait for an event
          await sleep(200);
          return classifier.infer(d);
        },
      };
      let announced = 0;
      let finished = 0;
      let peak = 0;
      const monitorQueue = Object.create(stack.resources.monitorQueue) as Queue;
      monitorQueue.sendBatch = async (entries) => {
        announced += entries.length;
        peak = Math.max(peak, announced - finished);
        return stack.resources.monitorQueue.sendBatch(entries);
      };
      const outputQueue = Object.create(stack.resources.outputQueue) as Queue;
      outputQueue.sendBatch = async (entries) => {
        finished += entries.length;
        return stack.resources.outputQueue.sendBatch(entries);
      };
      const { worker } = loop({ classifier: slow, monitorQueue, outputQueue }, { imageDeadlineSeconds: 1, prefetch: 20 });
      expect(await worker.run()).toBe('idle');
      expect(worker.done).toBe(12);
      // Five images a second, one second of deadline: never 10 or 20 at once.
      expect(peak).toBeLessThanOrEqual(5);
    }, 60_000);

    it('keeps a heartbeat in the output bucket while it holds images', async () => {
      const sent = await enqueue(stack, photos(3));
      // The model holds every image until the test has seen the heartbeat list them.
      let openModel = () => undefined as void;
      const modelOpen = new Promise<void>((resolve) => (openModel = resolve));
      const held = {
        backend: classifier.backend,
        model: classifier.model,
        decode: classifier.decode.bind(classifier),
        infer: async (d: Parameters<Classifier['infer']>[0]) => {
          await modelOpen;
          return classifier.infer(d);
        },
      };
      const { worker } = loop({ classifier: held }, { heartbeatSeconds: 0.2 });
      const running = worker.run();
      const beat = await eventually(
        async () => {
          const b = parseHeartbeat((await stack.resources.outputBucket.getBuffer(heartbeatKey('local-7'))).toString());
          return b.held.length === 3 && b;
        },
        20_000,
        50,
        'a heartbeat listing the three images held',
      );
      expect(beat.workerId).toBe('local-7');
      expect(beat.held.map((h) => h.imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
      openModel();
      expect(await running).toBe('idle');
      expect(worker.done).toBe(3);
      // A bound for a loaded CI machine (three real classifications and an idle period after the wait).
    }, 120_000);
  });
});
