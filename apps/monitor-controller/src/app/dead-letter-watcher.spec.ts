import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  inputKey,
  launchMessage,
  monitorMessage,
  outputSuccess,
  parseOutputMessage,
  resultKey,
  serialize,
  type OutputMessage,
} from '@app/contracts';
import { loadConfig } from '@app/config';
import { MetricsRegistry } from '@app/platform';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { DeadLetterWatcher } from './dead-letter-watcher';
import { GiveUp } from './give-up';
import { PollLoop } from './poll-loop';

// Receives and redeliveries on the embedded SQS take seconds: the bound is for a loaded machine.
jest.setTimeout(30_000);

describe('DeadLetterWatcher', () => {
  let stack: TestStack;
  let watcher: DeadLetterWatcher;

  beforeAll(async () => {
    // Two receives without a delete dead-letter a launch or a monitor message.
    stack = await startTestStack({
      queuePrefix: 'dlq-',
      maxReceiveCount: 2,
      launchVisibilitySeconds: 1,
      monitorMaxReceiveCount: 2,
      monitorVisibilitySeconds: 1,
    });
    watcher = new DeadLetterWatcher(stack.resources, new GiveUp(stack.resources), new MetricsRegistry(), loadConfig({ ...stack.env, MAX_ATTEMPTS: '3' }));
  });
  afterEach(() => watcher.onApplicationShutdown());
  afterAll(() => stack.stop());

  function ref() {
    const batchId = randomUUID();
    const imageId = randomUUID();
    return { batchId, imageId, fileName: 'boom.jpg', inputKey: inputKey(batchId, imageId, 'jpg') };
  }
  const launch = (r = ref(), attempt = 1) => launchMessage({ ...r, attempt, enqueuedAt: new Date().toISOString() });
  const monitor = (r = ref(), attempt = 1) =>
    monitorMessage({
      ...r,
      attempt,
      instanceId: 'local-7',
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      deadline: new Date(Date.now() - 1000).toISOString(),
    });

  async function announcements(waitSeconds = 1): Promise<OutputMessage[]> {
    const got = await stack.resources.outputQueue.receive({ maxMessages: 10, waitSeconds });
    await stack.resources.outputQueue.deleteBatch(got.map((m) => m.receiptHandle));
    return got.map((m) => parseOutputMessage(m.body));
  }
  const stored = async (imageId: string) => parseOutputMessage((await stack.resources.outputBucket.getBuffer(resultKey(imageId))).toString());

  it('turns an image whose last attempt no worker could take (its workers all died before checking it in) into an error result', async () => {
    // Earlier attempts go back to the launch queue (dead-letter-requeue.spec): only a spent image is answered with an error.
    const msg = launch(ref(), 3);
    const { launchQueue, launchDeadLetterQueue } = stack.resources;
    await launchQueue.send(serialize(msg));
    // Two workers take it and die without deleting it.
    for (let i = 0; i < 2; i++) expect(await launchQueue.receive({ waitSeconds: 3 })).toHaveLength(1);
    // A long poll past its visibility timeout: when it is due again, SQS moves it to the dead-letter queue instead.
    expect(await launchQueue.receive({ waitSeconds: 2 })).toEqual([]);

    const [dead] = (await launchDeadLetterQueue?.receive({ waitSeconds: 2 })) ?? [];
    expect(await watcher.handle(dead.body, 'launch')).toBe('gave-up');
    await launchDeadLetterQueue?.delete(dead.receiptHandle);
    const [result] = await announcements();
    expect(result).toMatchObject({ status: 'error', imageId: msg.imageId, attempt: 3, permanent: false, producedBy: 'monitor-controller' });
    expect(result.status === 'error' && result.reason).toMatch(/dead-lettered/);
    expect(await stored(msg.imageId)).toEqual(result);
  });

  it('announces a result that was written but maybe never announced; again, the same answer, when seen again', async () => {
    const r = ref();
    const result = outputSuccess({ batchId: r.batchId, imageId: r.imageId, fileName: r.fileName, attempt: 1, producedBy: 'local-3', completedAt: new Date().toISOString(), label: 'tabby', confidence: 0.9, top5: [], timings: {} });
    // The worker wrote its result and died before announcing it.
    await stack.resources.outputBucket.put(resultKey(r.imageId), serialize(result));
    expect(await watcher.handle(serialize(launch(r)), 'launch')).toBe('announced');
    expect(await announcements()).toEqual([result]);
    // Seen again (a duplicate in the dead-letter queue): the same answer once more (consumers drop it by image id), the result stands.
    expect(await watcher.handle(serialize(monitor(r)), 'monitor')).toBe('announced');
    expect(await announcements()).toEqual([result]);
    expect(await stored(r.imageId)).toEqual(result);
  });

  it('drops an unreadable dead-lettered message with a log line, answering nothing', async () => {
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      expect(await watcher.handle('not json', 'launch')).toBe('malformed');
      expect(await watcher.handle('{"type":"monitor","imageId":"nope"}', 'monitor')).toBe('malformed');
      expect(errors.mock.calls.map((c) => JSON.stringify(c[0]))).toEqual([
        expect.stringContaining('unreadable dead-lettered launch message'),
        expect.stringContaining('unreadable dead-lettered monitor message'),
      ]);
    } finally {
      errors.mockRestore();
    }
    expect(await announcements()).toEqual([]);
  });

  it('a dead-lettered check before its hard limit goes back to the monitor queue, delayed, and no error result is written', async () => {
    // The monitor queue records what is sent to it (delayed messages cannot be received to look at).
    const sent: { body: string; delay?: number }[] = [];
    const monitorQueue = { ...stack.resources.monitorQueue, send: async (body: string, delay?: number) => (sent.push({ body, delay }), 'id') };
    const resources = { ...stack.resources, monitorQueue } as unknown as typeof stack.resources;
    const requeuing = new DeadLetterWatcher(resources, new GiveUp(resources), new MetricsRegistry(), loadConfig({ ...stack.env, MAX_ATTEMPTS: '3' }));
    const msg = monitorMessage({ ...monitor(ref(), 1), hardDeadline: new Date(Date.now() + 120_000).toISOString() });
    expect(await requeuing.handle(serialize(msg), 'monitor')).toBe('check-requeued');
    // A second trip through the dead-letter queue counts on, so the checks back off further.
    expect(await requeuing.handle(serialize(monitorMessage({ ...msg, attempt: 2, checkFailures: 4 })), 'monitor')).toBe('check-requeued');
    expect(sent.map((m) => ({ ...JSON.parse(m.body), delay: m.delay }))).toEqual([
      expect.objectContaining({ imageId: msg.imageId, attempt: 1, checkFailures: 1, delay: 60 }),
      expect.objectContaining({ imageId: msg.imageId, attempt: 2, checkFailures: 5, delay: 60 }),
    ]);
    expect(await announcements(0)).toEqual([]);
    expect(await stack.resources.outputBucket.exists(resultKey(msg.imageId))).toBe(false);
  });

  it('a monitor message whose check keeps throwing on the last attempt is dead-lettered, and the watcher gives its image one answer', async () => {
    const msg = monitor(ref(), 3);
    const checks: string[] = [];
    // The deadline check fails every time (say, the fleet cannot be asked).
    const failingChecks = new PollLoop(
      stack.resources.monitorQueue,
      async (body) => {
        checks.push(body);
        throw new Error('fleet unreachable');
      },
      new Logger('failing-checks'),
      undefined,
      { waitSeconds: 1 },
    );
    failingChecks.start();
    watcher.onApplicationBootstrap();
    try {
      await stack.resources.monitorQueue.send(serialize(msg));
      const [answer] = await announcements(10).then(async (a) => (a.length ? a : announcements(10)));
      expect(answer).toMatchObject({ status: 'error', imageId: msg.imageId, attempt: 3, producedBy: 'monitor-controller' });
      expect(answer.status === 'error' && answer.reason).toMatch(/monitor message was dead-lettered/);
      expect(checks.length).toBeGreaterThanOrEqual(1);
      expect(checks.length).toBeLessThanOrEqual(2);
      expect(await stored(msg.imageId)).toEqual(answer);
      // Exactly one answer: once the monitor queue and its dead-letter queue hold nothing (not even a
      // message being handled), nothing is left that could answer again, and no other answer was sent.
      const empty = { visible: 0, inFlight: 0, delayed: 0 };
      await until('both queues to be empty', async () => {
        const [monitorDepth, deadDepth] = await Promise.all([stack.resources.monitorQueue.depth(), stack.resources.monitorDeadLetterQueue?.depth()]);
        return JSON.stringify([monitorDepth, deadDepth]) === JSON.stringify([empty, empty]);
      });
      expect(await announcements(0)).toEqual([]);
    } finally {
      await failingChecks.stop();
    }
  }, 60_000);
});
