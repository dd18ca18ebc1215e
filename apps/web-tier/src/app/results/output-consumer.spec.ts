import { randomUUID } from 'node:crypto';
import { AwsClients, AwsResources } from '@app/aws';
import { loadConfig, type AppConfig } from '@app/config';
import { outputSuccess, parseOutputMessage, resultKey, serialize, type OutputMessage } from '@app/contracts';
import { startFaultProxy, type FaultProxy } from '@tools/local-aws';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { BatchIndex } from '../batches/batch-index';
import { MetricsService } from '../ops/metrics.service';
import { OutputConsumer } from './output-consumer';
import { ResultsInbox } from './results-inbox';
import { ResultsService } from './results.service';
import { ResultsStore, ShuttingDownError } from './results.store';

describe('OutputConsumer against the embedded SQS', () => {
  let stack: TestStack;
  let config: AppConfig;
  let store: ResultsStore;
  let metrics: MetricsService;
  let consumer: OutputConsumer;

  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'outc-' });
    config = loadConfig({ ...stack.env, OUTPUT_POLL_SECONDS: '1' });
  });
  beforeEach(async () => {
    store = new ResultsStore(config);
    metrics = new MetricsService();
    consumer = new OutputConsumer(await ResultsInbox.open(stack.resources, config), store, metrics, config, new ResultsService(store, stack.resources, config, new BatchIndex(stack.resources)));
  });
  // A long poll aborted at shutdown may still take a message at the emulator until its 1 s wait
  // ends; the edge hands such a message back at once, so the next test's consumer gets it.
  afterEach(() => consumer.beforeApplicationShutdown());
  afterAll(() => stack.stop());

  function result(imageId: string = randomUUID(), label = 'tabby') {
    return outputSuccess({
      batchId: randomUUID(),
      imageId,
      fileName: 'cat.jpg',
      attempt: 1,
      producedBy: 'local-1',
      completedAt: new Date().toISOString(),
      label,
      confidence: 0.9,
      top5: [],
      timings: {},
    });
  }
  const counted = async () =>
    Object.fromEntries((await metrics.results.get()).values.map((v) => [String(v.labels['status']), v.value]));
  /** Where every writer puts a result before announcing it: the output bucket. */
  const storeResult = (r: OutputMessage) => stack.resources.outputBucket.put(resultKey(r.imageId), serialize(r), { contentType: 'application/json' });

  it('hands a result to the request waiting for it and deletes its message', async () => {
    const r = result();
    const waiting = store.waitForResult(r.imageId, 10_000);
    consumer.onApplicationBootstrap();
    await storeResult(r);
    await stack.resources.outputQueue.send(serialize(r));
    expect(await waiting).toMatchObject({ imageId: r.imageId, status: 'done', result: { label: 'tabby' } });
    // Counted as handled once its message is deleted.
    await until('the message deleted', () => consumer.consumer.status.handled === 1);
    expect(await stack.resources.outputQueue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await counted()).toEqual({ ok: 1 });
  });

  it('applies the first of two results for one image, drops an unreadable message, and deletes all three', async () => {
    const first = result(randomUUID(), 'tabby');
    const second = result(first.imageId, 'tiger');
    await storeResult(first);
    await stack.resources.outputQueue.send(serialize(first));
    await stack.resources.outputQueue.send('not json');
    await stack.resources.outputQueue.send(serialize(second));
    consumer.onApplicationBootstrap();
    await until('three messages handled and deleted', () => consumer.consumer.status.handled === 3);
    expect(store.image(first.imageId)).toMatchObject({ status: 'done', result: { label: 'tabby' } });
    // Handled side by side, the second may be read first: it is then replaced by the stored first.
    expect(await counted()).toMatchObject({ ok: 1, invalid: 1, duplicate: 1 });
    expect(await stack.resources.outputQueue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  }, 20_000);

  it('at shutdown releases waiting requests and stops consuming', async () => {
    consumer.onApplicationBootstrap();
    const waiting = store.waitForResult(randomUUID(), 10_000);
    await consumer.beforeApplicationShutdown();
    await expect(waiting).rejects.toBeInstanceOf(ShuttingDownError);
    expect(consumer.consumer.status.state).toBe('stopped');
    // A result that arrives now stays in the queue for another tier (the aborted poll may hold it
    // a moment; the edge gives it back at once): this tier neither applies nor deletes it.
    const late = result();
    await stack.resources.outputQueue.send(serialize(late));
    const [left] = await stack.resources.outputQueue.receive({ waitSeconds: 10 });
    expect(parseOutputMessage(left.body).imageId).toBe(late.imageId);
    expect(store.image(late.imageId)).toBeUndefined();
    expect(consumer.consumer.status.handled).toBe(0);
    await stack.resources.outputQueue.delete(left.receiptHandle);
  }, 20_000);

  it('serves the stored result, not a forged announcement with another label', async () => {
    const real = result(randomUUID(), 'tabby');
    const forged = { ...real, label: 'tiger', confidence: 1, producedBy: 'taken-over-worker' };
    await storeResult(real);
    const waiting = store.waitForResult(real.imageId, 10_000);
    consumer.onApplicationBootstrap();
    await stack.resources.outputQueue.send(serialize(forged));
    expect(await waiting).toMatchObject({ status: 'done', result: { label: 'tabby', producedBy: 'local-1' } });
    await until('the forged message handled', () => consumer.consumer.status.handled === 1);
    expect(store.image(real.imageId)).toMatchObject({ result: { label: 'tabby' } });
    expect(await counted()).toEqual({ replaced: 1, ok: 1 });
  });

  it('ignores an announcement of a result nobody stored, and deletes it', async () => {
    const forged = result(randomUUID(), 'tiger');
    consumer.onApplicationBootstrap();
    await stack.resources.outputQueue.send(serialize(forged));
    await until('the message handled', () => consumer.consumer.status.handled === 1);
    expect(store.image(forged.imageId)).toBeUndefined();
    expect(await counted()).toEqual({ not_stored: 1 });
    expect(await stack.resources.outputQueue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    // The worker's own result, stored and announced later, is served.
    const real = result(forged.imageId, 'tabby');
    await storeResult(real);
    await stack.resources.outputQueue.send(serialize(real));
    await until('the real result applied', () => store.image(real.imageId)?.status === 'done');
    expect(store.image(real.imageId)).toMatchObject({ result: { label: 'tabby' } });
  });

  it("keeps reading while results wait on slow bucket reads: a quiet tenant's result is not held behind 30 of a busy tenant's", async () => {
    const busy = Array.from({ length: 30 }, () => result(randomUUID(), 'tabby'));
    const quiet = result(randomUUID(), 'goldfish');
    await Promise.all([...busy, quiet].map(storeResult));
    // The busy tenant's confirmations are held at the bucket until the quiet result is served.
    const slowIds = new Set(busy.map((r) => r.imageId));
    let releaseSlowReads!: () => void;
    const slowReads = new Promise<void>((resolve) => (releaseSlowReads = resolve));
    class SlowForBusy extends ResultsService {
      override async readStoredResult(imageId: string) {
        if (slowIds.has(imageId)) await slowReads;
        return super.readStoredResult(imageId);
      }
    }
    const gated = new OutputConsumer(await ResultsInbox.open(stack.resources, config), store, metrics, config, new SlowForBusy(store, stack.resources, config, new BatchIndex(stack.resources)));
    try {
      for (const r of busy) await stack.resources.outputQueue.send(serialize(r));
      await stack.resources.outputQueue.send(serialize(quiet));
      const served = store.waitForResult(quiet.imageId, 10_000);
      gated.onApplicationBootstrap();
      expect(await served).toMatchObject({ status: 'done', result: { label: 'goldfish' } });
      expect(busy.filter((r) => store.image(r.imageId)?.status === 'done')).toEqual([]);
    } finally {
      releaseSlowReads();
      await until('every result handled', () => gated.consumer.status.handled === 31);
      await gated.beforeApplicationShutdown();
    }
  }, 20_000);

  it('rides out an SQS outage: backs off, recovers, and delivers what arrived meanwhile', async () => {
    const proxy: FaultProxy = await startFaultProxy({ port: stack.aws.port });
    const env = { ...stack.env, OUTPUT_POLL_SECONDS: '1', AWS_ENDPOINT_URL: proxy.endpoint, OUTPUT_QUEUE_URL: stack.aws.queues.output.replace(`:${stack.aws.port}/`, `:${proxy.port}/`) };
    const viaProxy = loadConfig(env);
    const clients = new AwsClients(viaProxy);
    const resources = new AwsResources(viaProxy, clients);
    const behindProxy = new OutputConsumer(await ResultsInbox.open(resources, viaProxy), store, metrics, viaProxy, new ResultsService(store, resources, viaProxy, new BatchIndex(resources)));
    const events: string[] = [];
    behindProxy.consumer.on('backing_off', () => events.push('backing_off'));
    behindProxy.consumer.on('recovered', () => events.push('recovered'));
    const failures = () => events.filter((e) => e === 'backing_off').length;
    try {
      behindProxy.onApplicationBootstrap();
      proxy.cut();
      await until('a failed receive', () => failures() >= 1, 15_000);
      const r = result();
      const waiting = store.waitForResult(r.imageId, 30_000);
      await storeResult(r);
      await stack.resources.outputQueue.send(serialize(r));
      // Another failed receive after the result arrived: it waits out part of the outage in the queue.
      const before = failures();
      await until('a failed receive after the send', () => failures() > before, 15_000);
      proxy.restore();
      expect(await waiting).toMatchObject({ imageId: r.imageId, status: 'done' });
      expect(events[0]).toBe('backing_off');
      expect(events).toContain('recovered');
    } finally {
      await behindProxy.beforeApplicationShutdown();
      clients.destroy();
      await proxy.stop();
    }
  }, 60_000);
});
