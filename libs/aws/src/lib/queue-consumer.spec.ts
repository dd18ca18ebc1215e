import { once } from 'node:events';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '@app/config';
import { startFaultProxy, startLocalAws, LOCAL_CREDENTIALS, type FaultProxy, type LocalAws } from '@tools/local-aws';
import { AwsClients } from './clients';
import { NotFoundError, UnreachableError } from './errors';
import { Queue } from './queue';
import { QueueConsumer } from './queue-consumer';
import { ConsumerOptionsError, type QueueConsumerOptions } from './queue-consumer-options';
import { Counter, nextLongPoll } from '../../test/sqs-test-hooks';

// Tests wait on the consumer's events and on hooks in the handlers, never on a clock.
jest.setTimeout(20_000);

const silent = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

/** Counts the times `c` emits `event` from now on. */
function counting<T>(c: QueueConsumer<T>, event: 'message_handled' | 'backing_off' | 'handler_failed'): Counter {
  const counter = new Counter();
  c.on(event, counter.tick);
  return counter;
}

/** A promise a test settles by hand: handlers block on it, so "in flight" lasts exactly as long as the test needs. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
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
    // A handler must never run on while its message is handled again: without heartbeats, its timeout is below the visibility timeout.
    expect(make({ visibilityTimeoutSeconds: 30, heartbeatSeconds: 0 })).toThrow(/handlerTimeoutSeconds \(180, the default\) must be less than visibilityTimeoutSeconds \(30\) without heartbeats/);
    expect(make({ visibilityTimeoutSeconds: 1 })).toThrow(/handlerTimeoutSeconds \(180, the default\) must be less than visibilityTimeoutSeconds \(1\)/);
    expect(make({ visibilityTimeoutSeconds: 30, heartbeatSeconds: 0, handlerTimeoutSeconds: 20 })).not.toThrow();
    expect(make({ visibilityTimeoutSeconds: 30, handlerTimeoutSeconds: 43_200 })).toThrow(/handlerTimeoutSeconds \(43200\) plus visibilityTimeoutSeconds \(30\) must not exceed 43200/);
    expect(make({ handlerTimeoutSeconds: 0 })).toThrow(/handlerTimeoutSeconds must be a whole number from 1 to 43200 \(got 0\)/);
    // Heartbeats by default, at half the visibility timeout; with the queue's own timeout (unknown here), none.
    expect(make({ visibilityTimeoutSeconds: 30, handlerTimeoutSeconds: 600 })).not.toThrow();
    expect(make({ handlerTimeoutSeconds: 600 })).not.toThrow();
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
    const handled = counting(c, 'message_handled');
    c.start();
    await handled.reached(12);
    await c.stop();
    expect(seen.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `body-${i}`).sort());
    expect(outcomes).toContain('BODY-3');
    expect(events).toEqual(['started', 'stopped']);
    expect(c.status).toMatchObject({ state: 'stopped', handled: 12, failed: 0, inFlight: 0 });
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('returns within a second of a message arriving on a long poll (no waiting for a full batch)', async () => {
    const queue = await freshQueue();
    const c = consumer({ queue, waitSeconds: 10, batchSize: 10, handleMessage: async () => undefined });
    const handled = once(c, 'message_handled');
    const polling = nextLongPoll(clients.sqs);
    c.start();
    // The queue is empty: after a short poll for ten, the consumer long-polls; the message arrives during that poll.
    await polling;
    const sentAt = Date.now();
    await queue.send('one');
    await handled;
    expect(Date.now() - sentAt).toBeLessThan(1500);
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
    const handled = once(c, 'message_handled');
    c.start();
    await handled; // on the second receive, once the visibility timeout has brought it back
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
      const handledCount = counting(c, 'message_handled');
      const failedReceives = counting(c, 'backing_off');
      c.start();
      await queue.send('before');
      await handledCount.reached(1);

      proxy.cut();
      await failedReceives.reached(3);
      expect(backoffs[0].error).toBeInstanceOf(UnreachableError);
      // Exponential with jitter: each pause within [ceiling/2, ceiling], the ceiling doubling up to maxMs.
      for (const [i, b] of backoffs.entries()) {
        const ceiling = Math.min(400, 50 * 2 ** i);
        expect(b.pause).toBeGreaterThanOrEqual(ceiling / 2);
        expect(b.pause).toBeLessThanOrEqual(ceiling);
      }
      expect(c.status.failingSince).toBeInstanceOf(Date);
      expect(c.health(60_000).healthy).toBe(true);
      // A second after the first failure (an injected clock): past the 10 ms threshold.
      const aSecondLater = (c.status.failingSince?.getTime() ?? 0) + 1000;
      expect(c.health(10, aSecondLater)).toMatchObject({ healthy: false, reason: expect.stringMatching(/failing for \d+ s: sqs.ReceiveMessage/) });

      await queue.send('during the outage');
      proxy.restore();
      await handledCount.reached(2);
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
    const failedReceives = counting(c, 'backing_off');
    c.start();
    await failedReceives.reached(3);
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
    const work = gate();
    const entered = new Counter();
    const c = consumer({
      queue,
      waitSeconds: 20,
      handleMessage: async (m) => {
        entered.tick();
        await work.opened;
        finished.push(m.body);
      },
    });
    let stoppedEvents = 0;
    c.on('stopped', () => stoppedEvents++);
    c.start();
    await entered.reached(2);
    const stopAsked = Date.now();
    const states: string[] = [c.status.state];
    const stopped = c.stop();
    states.push(c.status.state);
    // The handlers still run, so stop() has not finished; it does once they end.
    expect(c.status).toMatchObject({ state: 'stopping', inFlight: 2 });
    expect(stoppedEvents).toBe(0);
    work.open();
    await stopped;
    expect(states).toEqual(['running', 'stopping']);
    expect(stoppedEvents).toBe(1);
    expect(finished.sort()).toEqual(['a', 'b']);
    expect(Date.now() - stopAsked).toBeLessThan(5000); // not the 20 s poll
    expect(c.status).toMatchObject({ state: 'stopped', handled: 2, inFlight: 0 });
    expect(c.health(60_000)).toMatchObject({ healthy: false, reason: expect.stringMatching(/is stopped/) });
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    // Stopped means stopped: what is sent afterwards stays for someone else (its aborted
    // long poll may hold it for a moment; the edge gives it back at once), and no handler runs.
    await queue.send('after');
    let left: string[] = [];
    for (let poll = 0; poll < 5 && left.length === 0; poll++) left = (await queue.receive({ waitSeconds: 2 })).map((m) => m.body);
    expect(left).toEqual(['after']);
    expect(finished.sort()).toEqual(['a', 'b']);
    expect(c.status.handled).toBe(2);
  });

  it('stop({ finishReceive: true }) leaves the long poll in progress to end, and hands what it brings to the handler', async () => {
    const queue = await freshQueue();
    const seen: string[] = [];
    let receives = 0;
    const counted = Object.create(queue) as Queue;
    let pollAborted: AbortSignal | undefined;
    counted.receive = (o = {}) => {
      receives++;
      pollAborted = o.abortSignal;
      return queue.receive(o);
    };
    const c = consumer({
      queue: counted,
      waitSeconds: 5,
      handleMessage: async (m, ctx) => {
        seen.push(m.body);
        await ctx.release(0); // a stopping worker lets go of what comes in
      },
    });
    const polling = nextLongPoll(clients.sqs);
    c.start();
    await polling;
    const stopped = c.stop({ finishReceive: true });
    expect(pollAborted?.aborted).toBe(false);
    // What arrives now comes to this consumer's poll, not to one its client gave up on.
    await queue.send('sent back while stopping');
    await stopped;
    expect(seen).toEqual(['sent back while stopping']);
    expect(receives).toBe(1);
    expect(await queue.depth()).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('holds no more than maxInFlight messages at once', async () => {
    const queue = await freshQueue();
    await queue.sendBatch(Array.from({ length: 7 }, (_, i) => ({ id: `m${i}`, body: `${i}` })));
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const entered = new Counter();
    // What the consumer held and asked for at each receive: it may only ask for the room it has.
    const asked: { holding: number; asking: number }[] = [];
    const receive = queue.receive.bind(queue);
    jest.spyOn(queue, 'receive').mockImplementation((o) => {
      asked.push({ holding: c.status.inFlight, asking: o?.maxMessages ?? 1 });
      return receive(o);
    });
    const c = consumer({
      queue,
      batchSize: 2,
      maxInFlight: 3,
      handleMessage: async () => {
        peak = Math.max(peak, ++running);
        entered.tick();
        await new Promise<void>((r) => gates.push(r));
        running--;
      },
    });
    const handled = counting(c, 'message_handled');
    c.start();
    // Let the handlers finish one at a time, each once the consumer has filled every free slot.
    for (let done = 0; done < 7; done++) {
      await entered.reached(Math.min(done + 3, 7));
      expect(running).toBe(Math.min(3, 7 - done));
      gates.shift()?.();
      await handled.reached(done + 1);
    }
    expect(peak).toBe(3);
    for (const a of asked) expect(a.holding + a.asking).toBeLessThanOrEqual(3);
    expect(asked.some((a) => a.holding === 2 && a.asking === 1)).toBe(true);
  });

  it('keeps a slow message hidden with heartbeats, so no one else receives it', async () => {
    const queue = await freshQueue({ VisibilityTimeout: '30' });
    await queue.send('slow');
    // Each heartbeat counted once SQS has taken it.
    const heartbeats = new Counter();
    const changeVisibility = queue.changeVisibility.bind(queue);
    jest.spyOn(queue, 'changeVisibility').mockImplementation(async (handle, seconds) => {
      await changeVisibility(handle, seconds);
      heartbeats.tick();
    });
    const work = gate();
    const c = consumer({
      queue,
      visibilityTimeoutSeconds: 2,
      heartbeatSeconds: 1,
      handleMessage: () => work.opened,
    });
    const handled = once(c, 'message_handled');
    c.start();
    // The second heartbeat goes out 2 s after the handler started, so past the 2 s visibility
    // timeout of the receive before it: without heartbeats the message would be visible again.
    await heartbeats.reached(2);
    expect(c.status.inFlight).toBe(1);
    expect(await queue.receive({ maxMessages: 10 })).toEqual([]);
    work.open();
    await handled;
    expect(await queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('lets a handler ack early and keep working (deleteAfterHandling false)', async () => {
    const queue = await freshQueue();
    await queue.send('claim me');
    let depthWhileWorking: unknown;
    const deleteFailures: Error[] = [];
    const c = consumer({
      queue,
      deleteAfterHandling: false,
      handleMessage: async (_m, ctx) => {
        await ctx.ack();
        // Still working: the message is already gone from the queue.
        depthWhileWorking = await queue.depth();
      },
    });
    c.on('delete_failed', (_m, err) => deleteFailures.push(err));
    const handled = once(c, 'message_handled');
    c.start();
    await handled;
    expect(depthWhileWorking).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(deleteFailures).toEqual([]);
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
    const handled = counting(c, 'message_handled');
    const started = Date.now();
    c.start();
    await handled.reached(2);
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
    const handled = once(c, 'message_handled');
    c.start();
    await handled;
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
    const handled = once(c, 'message_handled');
    await queue.send('after restart');
    await handled;
    expect(seen).toEqual(['after restart']);
  });

  it('is unhealthy when it makes no progress: every handler hung and no room to receive', async () => {
    const queue = await freshQueue();
    await queue.send('hang');
    const hung = gate();
    const entered = new Counter();
    const c = consumer({ queue, waitSeconds: 0, batchSize: 1, handleMessage: () => (entered.tick(), hung.opened) });
    const handled = once(c, 'message_handled');
    c.start();
    await entered.reached(1);
    expect(c.status.inFlight).toBe(1);
    // Judged a second after its last progress (an injected clock), with a 100 ms threshold.
    const lastProgress = c.status.lastProgressAt?.getTime() ?? 0;
    expect(c.health(100, lastProgress + 1000)).toMatchObject({ healthy: false, reason: expect.stringMatching(/no progress for 1 s \(1 handlers running\)/) });
    expect(c.health(100, lastProgress + 50).healthy).toBe(true);
    hung.open();
    await handled;
    expect(c.health(100).healthy).toBe(true);
  });
});
