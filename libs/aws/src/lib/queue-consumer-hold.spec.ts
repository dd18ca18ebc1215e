import type { Queue, QueueConsumerHealth, ReceiveOptions, ReceivedMessage } from './queue';
import { QueueConsumer } from './queue-consumer';
import type { QueueConsumerOptions } from './queue-consumer-options';

/**
 * SQS's visibility rules over Jest's fake clock, as much of a Queue as
 * QueueConsumer uses: a receive hides a message for the visibility timeout it
 * asks for, ChangeMessageVisibility renews that (or fails once the message is
 * visible again, as SQS does), and a message hidden no longer is received again.
 * Minutes of handler time then take milliseconds, and every receive is seen.
 */
class ModelQueue {
  readonly url = 'http://sqs.model/000000000000/held';
  readonly consumers = new Set<QueueConsumerHealth>();
  /** Every receive of a message: its body and when (ms of the fake clock). */
  readonly receives: { body: string; at: number }[] = [];
  /** Every visibility change that took: when, and to how many seconds. */
  readonly changes: { at: number; seconds: number }[] = [];
  private readonly messages = new Map<string, { body: string; visibleAt: number; receiveCount: number; handle?: string }>();
  private sent = 0;

  send(body: string): void {
    this.messages.set(`m${++this.sent}`, { body, visibleAt: 0, receiveCount: 0 });
  }

  get left(): number {
    return this.messages.size;
  }

  async receive(o: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const until = Date.now() + (o.waitSeconds ?? 0) * 1000;
    for (;;) {
      const now = Date.now();
      const ready = [...this.messages.entries()].filter(([, m]) => m.visibleAt <= now).slice(0, o.maxMessages ?? 1);
      if (ready.length > 0 || now >= until || o.abortSignal?.aborted) {
        return ready.map(([id, m]) => {
          m.receiveCount++;
          m.handle = `${id}#${m.receiveCount}`;
          m.visibleAt = now + (o.visibilityTimeoutSeconds ?? 30) * 1000;
          this.receives.push({ body: m.body, at: now });
          return { messageId: id, body: m.body, receiptHandle: m.handle, receiveCount: m.receiveCount };
        });
      }
      await nap(100, o.abortSignal);
    }
  }

  async changeVisibility(handle: string, seconds: number): Promise<void> {
    const m = this.byHandle(handle);
    if (m.visibleAt <= Date.now()) throw new Error('MessageNotInflight');
    m.visibleAt = Date.now() + seconds * 1000;
    this.changes.push({ at: Date.now(), seconds });
  }

  async delete(handle: string): Promise<void> {
    this.byHandle(handle);
    for (const [id, m] of this.messages) if (m.handle === handle) this.messages.delete(id);
  }

  private byHandle(handle: string) {
    const m = [...this.messages.values()].find((x) => x.handle === handle);
    if (!m) throw new Error('ReceiptHandleIsInvalid');
    return m;
  }
}

/** Waits `ms` of the fake clock, or until the signal aborts. */
function nap(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

describe('QueueConsumer holding a message while its handler runs (fake clock)', () => {
  const lines: string[] = [];
  const logger = { log: () => undefined, error: (m: unknown) => void lines.push(String(m)), warn: (m: unknown) => void lines.push(String(m)) };
  let consumer: QueueConsumer<string> | undefined;
  let queue: ModelQueue;
  let startedAt: number;

  beforeEach(() => {
    jest.useFakeTimers();
    lines.length = 0;
    queue = new ModelQueue();
    startedAt = Date.now();
  });
  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
    jest.useRealTimers();
  });

  function start(options: Omit<QueueConsumerOptions<string>, 'queue'>): QueueConsumer<string> {
    consumer = new QueueConsumer<string>({ queue: queue as unknown as Queue, name: 'held', logger, waitSeconds: 1, batchSize: 1, ...options });
    consumer.start();
    return consumer;
  }
  const seconds = (at: number) => (at - startedAt) / 1000;

  it('a handler taking three times the visibility timeout keeps its message hidden: heartbeats at half of it, one receive, then deleted', async () => {
    queue.send('slow');
    let finish!: (v: string) => void;
    const c = start({ visibilityTimeoutSeconds: 10, handlerTimeoutSeconds: 60, handleMessage: () => new Promise((resolve) => (finish = resolve)) });
    await jest.advanceTimersByTimeAsync(30_000);
    expect(c.status.inFlight).toBe(1);
    expect(queue.receives.map((r) => r.body)).toEqual(['slow']);
    expect(queue.changes.map((x) => [seconds(x.at), x.seconds])).toEqual([5, 10, 15, 20, 25, 30].map((s) => [s, 10]));

    finish('done');
    await jest.advanceTimersByTimeAsync(0);
    expect(queue.left).toBe(0);
    expect(c.status).toMatchObject({ handled: 1, failed: 0, abandoned: 0, inFlight: 0 });
    // No heartbeat goes out once the handler has settled, and nothing comes back.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(queue.changes).toHaveLength(6);
    expect(queue.receives).toHaveLength(1);
  });

  it('a handler that hangs past its timeout is abandoned: its message is visible again at once, received again, and handled', async () => {
    queue.send('hangs once');
    const abandoned: string[] = [];
    const c = start({
      visibilityTimeoutSeconds: 10,
      handlerTimeoutSeconds: 25,
      handleMessage: (m) => (m.receiveCount === 1 ? new Promise<string>(() => undefined) : Promise.resolve(`handled on receive ${m.receiveCount}`)),
    });
    const outcomes: string[] = [];
    c.on('handler_abandoned', (m) => abandoned.push(m.body));
    c.on('message_handled', (_m, outcome) => outcomes.push(outcome));

    await jest.advanceTimersByTimeAsync(24_900);
    expect(abandoned).toEqual([]);
    expect(c.status).toMatchObject({ inFlight: 1, abandoned: 0 });
    expect(queue.receives).toHaveLength(1);

    await jest.advanceTimersByTimeAsync(1_000);
    expect(abandoned).toEqual(['hangs once']);
    // Heartbeats at 5..20 s kept it hidden; at 25 s it is given back (visibility 0), not left to run out.
    expect(queue.changes.map((x) => [seconds(x.at), x.seconds])).toEqual([[5, 10], [10, 10], [15, 10], [20, 10], [25, 0]]);
    expect(queue.receives.map((r) => seconds(r.at))).toEqual([0, 25]);
    expect(outcomes).toEqual(['handled on receive 2']);
    expect(queue.left).toBe(0);
    expect(c.status).toMatchObject({ handled: 1, abandoned: 1, inFlight: 0 });
    expect(lines).toContainEqual(expect.stringMatching(/^held: message m1 \(receive 1\) held by its handler for 25 s: abandoned, visible again for another receive$/));
  });

  it('a handler that acks first is not bounded by the timeout: it works on, and its message is gone', async () => {
    queue.send('claimed');
    let finish!: () => void;
    const c = start({
      visibilityTimeoutSeconds: 10,
      handlerTimeoutSeconds: 20,
      deleteAfterHandling: false,
      handleMessage: async (_m, ctx) => {
        await ctx.ack();
        await new Promise<void>((resolve) => (finish = resolve));
        return 'worked';
      },
    });
    await jest.advanceTimersByTimeAsync(60_000);
    expect(queue.left).toBe(0);
    expect(c.status).toMatchObject({ inFlight: 1, abandoned: 0 });
    expect(queue.changes).toEqual([]);
    finish();
    await jest.advanceTimersByTimeAsync(0);
    expect(c.status).toMatchObject({ handled: 1, abandoned: 0, inFlight: 0 });
    expect(queue.receives).toHaveLength(1);
  });

  it('without heartbeats the timeout ends the handler before its message can be received again', async () => {
    queue.send('no heartbeats');
    const c = start({
      visibilityTimeoutSeconds: 10,
      heartbeatSeconds: 0,
      handlerTimeoutSeconds: 8,
      handleMessage: (m) => (m.receiveCount === 1 ? new Promise<string>(() => undefined) : Promise.resolve('second')),
    });
    await jest.advanceTimersByTimeAsync(8_500);
    expect(queue.changes.map((x) => [seconds(x.at), x.seconds])).toEqual([[8, 0]]);
    expect(queue.receives.map((r) => seconds(r.at))).toEqual([0, 8]);
    expect(c.status).toMatchObject({ handled: 1, abandoned: 1 });
  });
});
