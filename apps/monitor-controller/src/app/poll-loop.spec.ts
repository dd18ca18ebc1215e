import { Logger } from '@nestjs/common';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { PollLoop } from './poll-loop';

describe('PollLoop on the monitor queue (with its dead-letter queue)', () => {
  let stack: TestStack;
  const loops: PollLoop[] = [];
  const logger = new Logger('test');

  // A fresh emulator per test: a long poll that stop() aborted is still served on the emulator's side
  // until its wait ends, and the message it takes there counts as a receive toward maxReceiveCount;
  // on a queue of its own, no test can lose a message to the previous test's loop.
  beforeEach(async () => {
    // Two receives without a delete dead-letter a monitor message; a second of visibility keeps it quick.
    stack = await startTestStack({ queuePrefix: 'poll-', monitorMaxReceiveCount: 2, monitorVisibilitySeconds: 1 });
  });
  afterEach(async () => {
    await Promise.all(loops.splice(0).map((l) => l.stop()));
    await stack.stop();
  });

  function loop(handle: (body: string) => Promise<string>, onHandled?: (o: string) => void): PollLoop {
    const l = new PollLoop(stack.resources.monitorQueue, handle, logger, onHandled, { waitSeconds: 1 });
    loops.push(l);
    return l;
  }

  const drainDeadLetters = async () => {
    const dlq = stack.resources.monitorDeadLetterQueue;
    if (!dlq) throw new Error('the test stack has no monitor dead-letter queue');
    const got = await dlq.receive({ maxMessages: 10, waitSeconds: 2 });
    await dlq.deleteBatch(got.map((m) => m.receiptHandle));
    return got.map((m) => m.body);
  };

  it('deletes a handled message and reports its outcome', async () => {
    const outcomes: string[] = [];
    loop(async (body) => `seen ${body}`, (o) => outcomes.push(o)).start();
    await stack.resources.monitorQueue.send('hello');
    await until('handled', () => outcomes.length === 1, 15_000);
    expect(outcomes).toEqual(['seen hello']);
    expect(await stack.resources.monitorQueue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('moves a malformed message to the dead-letter queue at once, handling it once (no crash loop)', async () => {
    const calls: string[] = [];
    loop(async (body) => (calls.push(body), 'malformed')).start();
    await stack.resources.monitorQueue.send('{"type":"monitor","imageId":"nope"}');
    expect(await drainDeadLetters()).toEqual(['{"type":"monitor","imageId":"nope"}']);
    // Deleted from the monitor queue (not even in flight): no copy is left there to be handled again.
    await until('the message deleted from the monitor queue', async () => {
      const depth = await stack.resources.monitorQueue.depth();
      return depth.visible + depth.inFlight + depth.delayed === 0;
    });
    expect(calls).toHaveLength(1);
  });

  it('a message whose handler keeps throwing lands in the dead-letter queue after maxReceiveCount, and the loop lives on', async () => {
    const calls: string[] = [];
    const outcomes: string[] = [];
    const l = loop(
      async (body) => {
        calls.push(body);
        if (body === 'poison') throw new Error('cannot handle this one');
        return 'ok';
      },
      (o) => outcomes.push(o),
    );
    l.start();
    await stack.resources.monitorQueue.send('poison');
    expect(await drainDeadLetters().then(async (got) => (got.length ? got : drainDeadLetters()))).toEqual(['poison']);
    expect(calls).toEqual(['poison', 'poison']);
    expect(l.consumer.status).toMatchObject({ state: 'running', failed: 2 });
    // Still consuming.
    await stack.resources.monitorQueue.send('fine');
    await until('the next message handled', () => outcomes.includes('ok'), 15_000);
  });

  it('process() handles one message as the loop would: deleted when handled, left when the handler throws', async () => {
    const l = loop(async (body) => {
      if (body === 'bad') throw new Error('no');
      return 'ok';
    });
    await stack.resources.monitorQueue.sendBatch([
      { id: 'a', body: 'good' },
      { id: 'b', body: 'bad' },
    ]);
    const got = await stack.resources.monitorQueue.receive({ maxMessages: 10, waitSeconds: 1, visibilityTimeoutSeconds: 30 });
    const results = await Promise.all(got.map((m) => l.process(m)));
    expect(results.sort()).toEqual(['ok', undefined].sort());
    expect(await stack.resources.monitorQueue.depth()).toMatchObject({ visible: 0, inFlight: 1 });
  });
});
