import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RetryableError, UnreachableError, type ObjectStore, type Queue } from '@app/aws';
import { Classifier, InferenceError } from '@app/classifier';
import { parseMonitorMessage, type WorkerState } from '@app/contracts';
import { MODEL_DIR, startTestStack, type TestStack } from '@tools/testing';
import { drain, enqueue, outputs, photos, recordingLogger, SAMPLE_IMAGES, storedResult } from '../testing/fixtures';
import { WorkerLoop, type WorkerLoopDeps, type WorkerLoopSettings } from './worker-loop';

const settings: WorkerLoopSettings = { pollWaitSeconds: 1, idleSeconds: 2, imageDeadlineSeconds: 300, prefetch: 20 };

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
    const r = stack.resources;
    const worker = new WorkerLoop({
      launchQueue: r.launchQueue,
      monitorQueue: r.monitorQueue,
      outputQueue: r.outputQueue,
      inputBucket: r.inputBucket,
      outputBucket: r.outputBucket,
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
      timings: expect.objectContaining({ receiveMs: expect.any(Number), inferMs: expect.any(Number), uploadMs: expect.any(Number) }),
    });
    expect(states[0]).toEqual(['free', 0]);
    expect(states).toContainEqual(['busy', 0]);
    expect(states.at(-2)).toEqual(['free', 12]);
    expect(states.at(-1)).toEqual(['stopping', 12]);
  }, 30_000);

  it('sends each monitor message delayed to the deadline, naming the worker, the image and the attempt', async () => {
    const [sent] = await enqueue(stack, photos(1), 2);
    const { worker } = loop({}, { imageDeadlineSeconds: 5, idleSeconds: 1 });
    const before = Date.now();
    await worker.run();
    expect(await drain(stack.resources.monitorQueue, 1, 1000)).toEqual([]); // not yet due
    const [body] = await drain(stack.resources.monitorQueue, 1, 10_000);
    expect(Date.now() - before).toBeGreaterThanOrEqual(4000);
    const monitor = parseMonitorMessage(body);
    expect(monitor).toMatchObject({
      imageId: sent.imageId,
      batchId: sent.batchId,
      inputKey: sent.inputKey,
      attempt: 2,
      instanceId: 'local-7',
    });
    expect(Date.parse(monitor.deadline) - Date.parse(monitor.startedAt)).toBe(5000);
  }, 30_000);

  it('reports undecodable and missing images at once as permanent errors, and carries on', async () => {
    const jpeg = photos(1)[0].bytes;
    const sent = await enqueue(stack, [
      { bytes: Buffer.alloc(0), ext: 'jpg', name: 'empty.jpg' },
      { bytes: Buffer.from('just some text\n'), ext: 'jpg', name: 'text.jpg' },
      { bytes: jpeg.subarray(0, Math.floor(jpeg.length / 2)), ext: 'jpg', name: 'truncated.jpg' },
      { bytes: jpeg, ext: 'jpg', name: 'gone.jpg', missing: true },
      { bytes: readFileSync(join(SAMPLE_IMAGES, 'n01440764_tench.JPEG')), ext: 'jpg', name: 'tench.jpg' },
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
    expect(byName['tench.jpg']).toMatchObject({ status: 'ok', label: 'tench' });
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
    expect(await drain(stack.resources.outputQueue, 1, 500)).toEqual([]);
  }, 30_000);

  it('ends with "idle" after idleSeconds without a message', async () => {
    const { worker, states } = loop({}, { idleSeconds: 2, pollWaitSeconds: 20 });
    const started = Date.now();
    expect(await worker.run()).toBe('idle');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(4500); // the long poll is cut to the idle time left
    expect(states.map(([s]) => s)).toEqual(['free', 'stopping']);
  }, 30_000);

  it('stop() mid-image: stops polling, finishes every image it took, loses none', async () => {
    const sent = await enqueue(stack, photos(40));
    const { worker, lines } = loop({}, { idleSeconds: 60 });
    const running = worker.run();
    while (!lines.some((l) => l.msg === 'image classified')) await new Promise((r) => setTimeout(r, 5));
    await worker.stop();
    expect(await running).toBe('stopped');
    const finished = worker.done;
    expect(finished).toBeGreaterThan(0);
    // Every image is either finished (result stored, output sent) or still in the launch queue.
    const results = (await Promise.all(sent.map((m) => storedResult(stack, m.imageId)))).filter(Boolean);
    expect(results).toHaveLength(finished);
    expect(await outputs(stack, finished, 3000)).toHaveLength(finished);
    const left = await stack.resources.launchQueue.depth();
    expect(left.inFlight).toBe(0);
    expect(finished + left.visible).toBe(40);
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
    expect(await drain(stack.resources.outputQueue, 1, 500)).toEqual([]);
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
    expect(lines.filter((l) => l.msg === 'cannot receive from the launch queue').map((l) => l.fields['retryInMs'])).toEqual([500, 1000]);

    const down = Object.create(stack.resources.launchQueue) as Queue;
    down.receive = () => Promise.reject(new UnreachableError('down', 'sqs.ReceiveMessage'));
    const second = loop({ launchQueue: down }, { idleSeconds: 60 });
    const running = second.worker.run();
    await new Promise((r) => setTimeout(r, 1700)); // now in a 2 s back-off
    const stopping = Date.now();
    await second.worker.stop();
    expect(await running).toBe('stopped');
    expect(Date.now() - stopping).toBeLessThan(200);
  }, 30_000);

  it('still finishes an image whose launch message could not be deleted (a redo is harmless)', async () => {
    const [sent] = await enqueue(stack, photos(1));
    const noDelete = Object.create(stack.resources.launchQueue) as Queue;
    noDelete.deleteBatch = () => Promise.reject(new RetryableError('sqs.DeleteMessageBatch: InternalError', 'sqs.DeleteMessageBatch'));
    const { worker, lines } = loop({ launchQueue: noDelete });
    expect(await worker.run()).toBe('idle');
    expect(await storedResult(stack, sent.imageId)).toMatchObject({ status: 'ok' });
    expect(lines.some((l) => l.msg === 'cannot delete launch messages')).toBe(true);
    expect((await stack.resources.launchQueue.depth()).inFlight).toBe(1); // it will come back
  }, 30_000);

  it('sends no output message when the result cannot be written, leaving the image to the monitor', async () => {
    await enqueue(stack, photos(1));
    const noPut = Object.create(stack.resources.outputBucket) as ObjectStore;
    noPut.put = () => Promise.reject(new RetryableError('s3.PutObject: SlowDown', 's3.PutObject'));
    const { worker, lines } = loop({ outputBucket: noPut });
    expect(await worker.run()).toBe('idle');
    expect(worker.done).toBe(0);
    expect(lines.find((l) => l.msg === 'result not delivered; the monitor controller will retry the image')?.fields['reason']).toBe(
      's3.PutObject: SlowDown',
    );
    expect(await drain(stack.resources.outputQueue, 1, 500)).toEqual([]);
  }, 30_000);

  it('writes no result when the image cannot be read for a passing reason (the monitor retries it)', async () => {
    const [sent] = await enqueue(stack, photos(1));
    const noGet = Object.create(stack.resources.inputBucket) as ObjectStore;
    noGet.getBuffer = () => Promise.reject(new UnreachableError('s3.GetObject: ECONNRESET', 's3.GetObject'));
    const { worker, lines } = loop({ inputBucket: noGet });
    expect(await worker.run()).toBe('idle');
    expect(lines.find((l) => l.msg === 'image failed; the monitor controller will retry it')?.fields).toMatchObject({
      imageId: sent.imageId,
      reason: 's3.GetObject: ECONNRESET',
    });
    expect(await storedResult(stack, sent.imageId)).toBeUndefined();
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 0, inFlight: 0 });
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
    // Only the first batch was taken; the rest wait for a healthy worker.
    expect((await stack.resources.launchQueue.depth()).visible).toBe(20);
  }, 30_000);
});
