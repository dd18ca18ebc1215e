import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '@app/config';
import { startFaultProxy, startLocalAws, LOCAL_CREDENTIALS, type FaultProxy, type LocalAws } from '@tools/local-aws';
import { AwsClients } from './clients';
import { NotFoundError, UnreachableError } from './errors';
import { Queue } from './queue';
import { QueueConsumer } from './queue-consumer';
import { ConsumerOptionsError, type QueueConsumerOptions } from './queue-consumer-options';

const silent = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('QueueConsumer against the embedded SQS', () => {
  let aws: LocalAws;
  let clients: AwsClients;
  let counter = 0;
  const consumers: QueueConsumer<unknown>[] = [];

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
    clients = new AwsClients(loadConfig(aws.env));
  });
  afterEach(async () => {
    // Every consumer a test started is stopped, even when the test failed half-way.
    await Promise.all(consumers.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    clients.destroy();
    await aws.stop();
  });

  async function freshQueue(attributes: Record<string, string> = {}): Promise<Queue> {
    const out = await clients.sqs.send(new CreateQueueCommand({ QueueName: `c${++counter}-${Date.now()}`, Attributes: attributes }));
    return new Queue(clients.sqs, out.QueueUrl ?? '', { visibleCountIncludesInFlight: true });
  }

  function consumer<T>(options: QueueConsumerOptions<T>): QueueConsumer<T> {
    const c = new QueueConsumer<T>({ logger: silent, waitSeconds: 1, ...options });
    consumers.push(c as QueueConsumer<unknown>);
    return c;
  }

  it('validates its options up front and names every one at fault', () => {
    const queue = new Queue(clients.sqs, `${aws.endpoint}/000000000000/x`);
    const make = (o: Partial<QueueConsumerOptions<void>>) => () =>
      new QueueConsumer<void>({ queue, handleMessage: async () => undefined, ...o });
    expect(make({ batchSize: 11 })).toThrow(ConsumerOptionsError);
    expect(make({ batchSize: 0, waitSeconds: 21 })).toThrow(/batchSize must be a whole number from 1 to 10 \(got 0\); waitSeconds must be a whole number from 0 to 20 \(got 21\)/);
    expect(make({ heartbeatSeconds: 5 })).toThrow(/heartbeatSeconds needs visibilityTimeoutSeconds/);
    expect(make({ heartbeatSeconds: 30, visibilityTimeoutSeconds: 30 })).toThrow(/heartbeatSeconds \(30\) must be less than visibilityTimeoutSeconds \(30\)/);
    expect(make({ batchSize: 10, maxInFlight: 5 })).toThrow(/maxInFlight \(5\) must be at least batchSize \(10\)/);
    expect(make({ backoff: { initialMs: 5000, maxMs: 100 } })).toThrow(/backoff.initialMs \(5000\) must not exceed backoff.maxMs \(100\)/);
    expect(make({ handleMessage: undefined })).toThrow(/handleMessage must be a function/);
    expect(make({ batchSize: 10, maxInFlight: 20, heartbeatSeconds: 10, visibilityTimeoutSeconds: 30 })).not.toThrow();
  });

  it('hands each message to the handler, deletes it, and reports started, handled and stopped', async () => {
    const queue = await freshQueue();
    await queue.sendBatch(Array.from({ length: 12 }, (_, i) => ({ id: `m${i}`, body: `body-${i}` })));
    const events: string[] = [];
    const seen: string[] = [];
    const c = consumer({ queue, handleMessage: async (m) => (seen.push(m.body), m.body.toUpperCase()) });
    const outcomes: unknown[] = [];
    c.on('started', () => events.push('started'));
    c.on('stopped', () => events.push('stopped'));
    c.on('message_handled', (_m, outcome) => outcomes.push(outcome));
    c.start();
    await until('12 handled', () => c.status.handled === 12);
    await c.stop();
    expect(seen.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `body-${i}`).sort());
    expect(outcomes).toContain('BODY-3');
    expect(events).toEqual(['started', 'stopped']);
    expect(c.status).toMatchObject({ state: 'stopped', handled: 12, failed: 0, inFlight: 0 });
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('returns within a second of a message arriving on a long poll (no waiting for a full batch)', async () => {
    const queue = await freshQueue();
    let handledAt = 0;
    const c = consumer({ queue, waitSeconds: 10, batchSize: 10, handleMessage: async () => void (handledAt = Date.now()) });
    c.start();
    await sleep(300);
    const sentAt = Date.now();
    await queue.send('one');
    await until('handled', () => handledAt > 0);
    expect(handledAt - sentAt).toBeLessThan(1500);
  });

  it('leaves a message whose handler throws for redelivery, then handles it', async () => {
    const queue = await freshQueue({ VisibilityTimeout: '1' });
    await queue.send('flaky');
    const receives: number[] = [];
    const failures: string[] = [];
    const c = consumer({
      queue,
      handleMessage: async (m) => {
        receives.push(m.receiveCount);
        if (m.receiveCount === 1) throw new Error('first try fails');
        return 'ok';
      },
    });
    c.on('handler_failed', (m, err) => failures.push(`${m.body}: ${err.message}`));
    c.start();
    await until('handled on the second receive', () => c.status.handled === 1);
    expect(receives).toEqual([1, 2]);
    expect(failures).toEqual(['flaky: first try fails']);
    expect(c.status.failed).toBe(1);
    await c.stop();
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('backs off while SQS is unreachable, is unhealthy past the threshold, and recovers on its own', async () => {
    const queue = await freshQueue();
    const proxy: FaultProxy = await startFaultProxy({ port: aws.port });
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      // The queue URL names the proxy: the SDK sends to the queue URL's host.
      const viaProxy = new Queue(sqs, queue.url.replace(`:${aws.port}/`, `:${proxy.port}/`));
      const handled: string[] = [];
      const backoffs: { error: Error; pause: number }[] = [];
      const recovered: number[] = [];
      const lines: string[] = [];
      const record = (level: string) => (msg: unknown) => void lines.push(`${level} ${String(msg)}`);
      const logger = { log: record('log'), warn: record('warn'), error: record('error'), debug: record('debug') };
      const c = consumer({ queue: viaProxy, name: 'q-out', logger, backoff: { initialMs: 50, maxMs: 400 }, handleMessage: async (m) => void handled.push(m.body) });
      c.on('backing_off', (error, pause) => backoffs.push({ error, pause }));
      c.on('recovered', (_ms, failures) => recovered.push(failures));
      c.start();
      await queue.send('before');
      await until('first handled and deleted', () => c.status.handled === 1);

      proxy.cut();
      await until('three failed receives', () => backoffs.length >= 3);
      expect(backoffs[0].error).toBeInstanceOf(UnreachableError);
      // Exponential with jitter: each pause within [ceiling/2, ceiling], the ceiling doubling up to maxMs.
      for (const [i, b] of backoffs.entries()) {
        const ceiling = Math.min(400, 50 * 2 ** i);
        expect(b.pause).toBeGreaterThanOrEqual(ceiling / 2);
        expect(b.pause).toBeLessThanOrEqual(ceiling);
      }
      expect(c.status.failingSince).toBeInstanceOf(Date);
      expect(c.health(60_000).healthy).toBe(true);
      await sleep(50);
      expect(c.health(10)).toMatchObject({ healthy: false, reason: expect.stringMatching(/failing for \d+ s: sqs.ReceiveMessage/) });

      await queue.send('during the outage');
      proxy.restore();
      await until('handled after recovery', () => handled.length === 2);
      expect(handled).toEqual(['before', 'during the outage']);
      expect(recovered).toHaveLength(1);
      expect(recovered[0]).toBeGreaterThanOrEqual(3);
      expect(c.health(10)).toMatchObject({ healthy: true });
      expect(c.status.failingSince).toBeUndefined();
      await c.stop();
      // A log line per state change: started, each failed receive with its pause, recovered, stopping, stopped.
      const kinds = lines.map((l) => l.replace(/^(\w+) q-out: (\w+).*$/, '$1 $2'));
      expect(kinds[0]).toBe('log consuming');
      expect(kinds.slice(1, 4)).toEqual(['warn receive', 'warn receive', 'warn receive']);
      expect(lines[1]).toMatch(/^warn q-out: receive failed \(UnreachableError, failure 1\): .*; backing off \d+ ms$/);
      expect(kinds.slice(-3)).toEqual(['log recovered', 'log stopping', 'log stopped']);
    } finally {
      sqs.destroy();
      await proxy.stop();
    }
  });

  it('never dies on an error retrying cannot fix: it keeps backing off at the longest pause', async () => {
    const missing = new Queue(clients.sqs, `${aws.endpoint}/000000000000/no-such-queue`);
    const pauses: number[] = [];
    const c = consumer({ queue: missing, backoff: { initialMs: 10, maxMs: 100 }, handleMessage: async () => undefined });
    let error: Error | undefined;
    c.on('backing_off', (err, pause) => ((error = err), pauses.push(pause)));
    c.start();
    await until('three failed receives', () => pauses.length >= 3);
    expect(error).toBeInstanceOf(NotFoundError);
    for (const p of pauses) expect(p).toBeGreaterThanOrEqual(50);
    expect(c.status.state).toBe('backing-off');
    await c.stop();
    expect(c.status.state).toBe('stopped');
  });

  it('stop() ends the poll and waits for the handlers in flight, which still delete their messages', async () => {
    const queue = await freshQueue();
    await queue.sendBatch([
      { id: 'a', body: 'a' },
      { id: 'b', body: 'b' },
    ]);
    const finished: string[] = [];
    const c = consumer({
      queue,
      waitSeconds: 20,
      handleMessage: async (m) => {
        await sleep(700);
        finished.push(m.body);
      },
    });
    c.start();
    await until('both in flight', () => c.status.inFlight === 2);
    const stopAsked = Date.now();
    const states: string[] = [c.status.state];
    const stopped = c.stop();
    states.push(c.status.state);
    await stopped;
    expect(states).toEqual(['running', 'stopping']);
    expect(finished.sort()).toEqual(['a', 'b']);
    expect(Date.now() - stopAsked).toBeLessThan(5000); // not the 20 s poll
    expect(c.status).toMatchObject({ state: 'stopped', handled: 2, inFlight: 0 });
    expect(c.health(60_000)).toMatchObject({ healthy: false, reason: expect.stringMatching(/is stopped/) });
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    // Stopped means stopped: nothing sent afterwards is taken.
    await queue.send('after');
    await sleep(300);
    expect(await queue.depth()).toMatchObject({ visible: 1, inFlight: 0 });
  });

  it('holds no more than maxInFlight messages at once', async () => {
    const queue = await freshQueue();
    await queue.sendBatch(Array.from({ length: 7 }, (_, i) => ({ id: `m${i}`, body: `${i}` })));
    let running = 0;
    let peak = 0;
    const c = consumer({
      queue,
      batchSize: 2,
      maxInFlight: 3,
      handleMessage: async () => {
        peak = Math.max(peak, ++running);
        await sleep(150);
        running--;
      },
    });
    c.start();
    await until('7 handled', () => c.status.handled === 7);
    expect(peak).toBe(3);
  });

  it('keeps a slow message hidden with heartbeats, so no one else receives it', async () => {
    const queue = await freshQueue({ VisibilityTimeout: '30' });
    await queue.send('slow');
    const c = consumer({
      queue,
      visibilityTimeoutSeconds: 2,
      heartbeatSeconds: 1,
      handleMessage: async () => sleep(3500),
    });
    c.start();
    await until('in flight', () => c.status.inFlight === 1);
    // Past the 2 s visibility timeout: without heartbeats it would be visible again.
    await sleep(2800);
    expect(await queue.receive({ maxMessages: 10 })).toEqual([]);
    await until('handled', () => c.status.handled === 1);
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('without heartbeats a message outliving its visibility timeout is handled twice (what heartbeats prevent)', async () => {
    const queue = await freshQueue({ VisibilityTimeout: '30' });
    await queue.send('slow');
    const receives: number[] = [];
    const c = consumer({
      queue,
      visibilityTimeoutSeconds: 1,
      handleMessage: async (m) => {
        receives.push(m.receiveCount);
        await sleep(2000);
      },
    });
    c.start();
    await until('handled twice', () => c.status.handled >= 2);
    expect(receives.slice(0, 2)).toEqual([1, 2]);
  });

  it('lets a handler ack early and keep working (deleteAfterHandling false)', async () => {
    const queue = await freshQueue();
    await queue.send('claim me');
    let depthWhileWorking: unknown;
    const c = consumer({
      queue,
      deleteAfterHandling: false,
      handleMessage: async (_m, ctx) => {
        await ctx.ack();
        depthWhileWorking = await queue.depth();
        await sleep(100);
      },
    });
    c.start();
    await until('handled', () => c.status.handled === 1);
    expect(depthWhileWorking).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('lets a handler release a message it will not handle: visible again at once, and not deleted', async () => {
    const queue = await freshQueue({ VisibilityTimeout: '30' });
    await queue.send('not now');
    const outcomes: string[] = [];
    const c = consumer({
      queue,
      handleMessage: async (m, ctx) => {
        if (outcomes.length === 0) {
          await ctx.release();
          return 'released';
        }
        return `handled ${m.body}`;
      },
    });
    c.on('message_handled', (_m, o) => outcomes.push(o));
    const started = Date.now();
    c.start();
    await until('handled after the release', () => outcomes.length === 2);
    // Back at once, not after the 30 s visibility timeout.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(outcomes).toEqual(['released', 'handled not now']);
    await c.stop();
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('with deleteAfterHandling false and no ack, the message stays for redelivery', async () => {
    const queue = await freshQueue({ VisibilityTimeout: '30' });
    await queue.send('kept');
    const c = consumer({ queue, deleteAfterHandling: false, handleMessage: async () => 'seen' });
    c.start();
    await until('handled', () => c.status.handled === 1);
    await c.stop();
    expect(await queue.depth()).toMatchObject({ visible: 0, inFlight: 1 });
  });

  it('is unhealthy before start and after stop, healthy while running, and listed on its queue once started', async () => {
    const queue = await freshQueue();
    const c = consumer({ queue, handleMessage: async () => undefined });
    expect(c.health(1000)).toMatchObject({ healthy: false, reason: expect.stringMatching(/is created/) });
    expect([...queue.consumers]).toEqual([]);
    c.start();
    expect([...queue.consumers]).toEqual([c]);
    expect(c.health(1000).healthy).toBe(true);
    await c.stop();
    expect(c.health(1000).healthy).toBe(false);
  });

  it('starts again after a stop', async () => {
    const queue = await freshQueue();
    const seen: string[] = [];
    const c = consumer({ queue, handleMessage: async (m) => void seen.push(m.body) });
    c.start();
    await c.stop();
    c.start();
    expect(c.status.state).toBe('running');
    await queue.send('after restart');
    await until('handled', () => seen.length === 1);
    expect(seen).toEqual(['after restart']);
  });

  it('is unhealthy when it makes no progress: every handler hung and no room to receive', async () => {
    const queue = await freshQueue();
    await queue.send('hang');
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    const c = consumer({ queue, waitSeconds: 0, batchSize: 1, handleMessage: () => hung });
    c.start();
    await until('in flight', () => c.status.inFlight === 1);
    await sleep(300);
    expect(c.health(100)).toMatchObject({ healthy: false, reason: expect.stringMatching(/no progress .* \(1 handlers running\)/) });
    release();
    await until('handled', () => c.status.handled === 1);
    expect(c.health(100).healthy).toBe(true);
  });
});
