import { randomUUID } from 'node:crypto';
import { AwsClients, AwsResources } from '@app/aws';
import { loadConfig, type AppConfig } from '@app/config';
import { outputSuccess, serialize } from '@app/contracts';
import { startFaultProxy, type FaultProxy } from '@tools/local-aws';
import { startTestStack, type TestStack } from '@tools/testing';
import { MetricsService } from '../ops/metrics.service';
import { OutputConsumer } from './output-consumer';
import { ResultsStore, ShuttingDownError } from './results.store';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  beforeEach(() => {
    store = new ResultsStore(config);
    metrics = new MetricsService();
    consumer = new OutputConsumer(stack.resources, store, metrics, config);
  });
  afterEach(async () => {
    await consumer.beforeApplicationShutdown();
    // A long poll aborted at shutdown still takes a message on the emulator's side until its
    // 1 s wait ends (real SQS may too; it returns after its visibility timeout): let it end.
    await sleep(1100);
  });
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

  it('hands a result to the request waiting for it and deletes its message', async () => {
    const r = result();
    const waiting = store.waitForResult(r.imageId, 10_000);
    consumer.onApplicationBootstrap();
    await stack.resources.outputQueue.send(serialize(r));
    expect(await waiting).toMatchObject({ imageId: r.imageId, status: 'done', result: { label: 'tabby' } });
    await sleep(200);
    expect(await stack.resources.outputQueue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await counted()).toEqual({ ok: 1 });
  });

  it('applies the first of two results for one image, drops an unreadable message, and deletes all three', async () => {
    const first = result(randomUUID(), 'tabby');
    const second = result(first.imageId, 'tiger');
    await stack.resources.outputQueue.send(serialize(first));
    await stack.resources.outputQueue.send('not json');
    await stack.resources.outputQueue.send(serialize(second));
    consumer.onApplicationBootstrap();
    const end = Date.now() + 10_000;
    while (consumer.consumer.status.handled < 3 && Date.now() < end) await sleep(50);
    expect(store.image(first.imageId)).toMatchObject({ status: 'done', result: { label: 'tabby' } });
    expect(await counted()).toEqual({ ok: 1, invalid: 1, duplicate: 1 });
    expect(await stack.resources.outputQueue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  }, 20_000);

  it('at shutdown releases waiting requests and stops consuming', async () => {
    consumer.onApplicationBootstrap();
    const waiting = store.waitForResult(randomUUID(), 10_000);
    await consumer.beforeApplicationShutdown();
    await expect(waiting).rejects.toBeInstanceOf(ShuttingDownError);
    expect(consumer.consumer.status.state).toBe('stopped');
    await sleep(1100); // the aborted poll's wait ends (see afterEach)
    await stack.resources.outputQueue.send(serialize(result()));
    await sleep(1500);
    expect(await stack.resources.outputQueue.depth()).toMatchObject({ visible: 1 });
    const [left] = await stack.resources.outputQueue.receive({ waitSeconds: 1 });
    await stack.resources.outputQueue.delete(left.receiptHandle);
  }, 20_000);

  it('rides out an SQS outage: backs off, recovers, and delivers what arrived meanwhile', async () => {
    const proxy: FaultProxy = await startFaultProxy({ port: stack.aws.port });
    const env = { ...stack.env, OUTPUT_POLL_SECONDS: '1', AWS_ENDPOINT_URL: proxy.endpoint, OUTPUT_QUEUE_URL: stack.aws.queues.output.replace(`:${stack.aws.port}/`, `:${proxy.port}/`) };
    const viaProxy = loadConfig(env);
    const clients = new AwsClients(viaProxy);
    const behindProxy = new OutputConsumer(new AwsResources(viaProxy, clients), store, metrics, viaProxy);
    const events: string[] = [];
    behindProxy.consumer.on('backing_off', () => events.push('backing_off'));
    behindProxy.consumer.on('recovered', () => events.push('recovered'));
    try {
      behindProxy.onApplicationBootstrap();
      proxy.cut();
      const end = Date.now() + 15_000;
      while (!events.includes('backing_off') && Date.now() < end) await sleep(50);
      const r = result();
      const waiting = store.waitForResult(r.imageId, 30_000);
      await stack.resources.outputQueue.send(serialize(r));
      await sleep(500);
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
