import { randomUUID } from 'node:crypto';
import { inputKey, launchMessage, parseOutputMessage, resultKey, serialize } from '@app/contracts';
import { MetricsRegistry } from '@app/platform';
import { startTestStack, type TestStack } from '@tools/testing';
import { DeadLetterWatcher } from './dead-letter-watcher';
import { GiveUp } from './give-up';

describe('DeadLetterWatcher', () => {
  let stack: TestStack;
  let watcher: DeadLetterWatcher;

  beforeAll(async () => {
    // Two receives without a delete dead-letter a launch message.
    stack = await startTestStack({ queuePrefix: 'dlq-', maxReceiveCount: 2, launchVisibilitySeconds: 1 });
    watcher = new DeadLetterWatcher(stack.resources, new GiveUp(stack.resources), new MetricsRegistry());
  });
  afterAll(() => stack.stop());

  function launch() {
    const batchId = randomUUID();
    const imageId = randomUUID();
    return launchMessage({ batchId, imageId, fileName: 'boom.jpg', attempt: 1, inputKey: inputKey(batchId, imageId, 'jpg'), enqueuedAt: new Date().toISOString() });
  }

  it('turns an image whose workers all died before announcing it into an error result', async () => {
    const msg = launch();
    const { launchQueue, launchDeadLetterQueue, outputQueue, outputBucket } = stack.resources;
    await launchQueue.send(serialize(msg));
    // Two workers take it and die without deleting it.
    for (let i = 0; i < 2; i++) expect(await launchQueue.receive({ waitSeconds: 3 })).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await launchQueue.receive({ waitSeconds: 1 })).toEqual([]);

    const [dead] = (await launchDeadLetterQueue?.receive({ waitSeconds: 2 })) ?? [];
    expect(await watcher.handle(dead.body)).toBe('gave-up');
    const [out] = await outputQueue.receive({ waitSeconds: 1 });
    const result = parseOutputMessage(out.body);
    expect(result).toMatchObject({ status: 'error', imageId: msg.imageId, permanent: false, producedBy: 'monitor-controller' });
    expect(result.status === 'error' && result.reason).toMatch(/dead-lettered/);
    expect(parseOutputMessage((await outputBucket.getBuffer(resultKey(msg.imageId))).toString())).toEqual(result);
    await outputQueue.delete(out.receiptHandle);
  });

  it('leaves a finished image alone and drops a malformed message', async () => {
    const msg = launch();
    await stack.resources.outputBucket.put(resultKey(msg.imageId), '{}');
    expect(await watcher.handle(serialize(msg))).toBe('done');
    expect(await watcher.handle('not json')).toBe('malformed');
    expect(await stack.resources.outputQueue.receive({ waitSeconds: 1 })).toEqual([]);
  });
});
