import { randomUUID } from 'node:crypto';
import { RetryableError, type ObjectStore, type Queue } from '@app/aws';
import { outputError, outputSuccess, parseOutputMessage, resultKey, serialize, type OutputMessage } from '@app/contracts';
import { startTestStack, type TestStack } from '@tools/testing';
import { AttemptLedger } from './attempt-ledger';
import { ResultPublisher, StoredResultInvalidError } from './result-publisher';

describe('ResultPublisher against the embedded S3/SQS', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'pub-' });
  });
  afterAll(() => stack.stop());
  afterEach(async () => {
    await announcements(); // leave the output queue empty for the next test
  });

  const ref = () => ({ batchId: randomUUID(), imageId: randomUUID(), fileName: 'cat.jpg', attempt: 1, completedAt: new Date().toISOString() });
  const ok = (r = ref(), producedBy = 'local-1') =>
    outputSuccess({ ...r, producedBy, label: 'tabby', confidence: 0.8, top5: [], timings: {} });
  const failed = (r: ReturnType<typeof ref>) => outputError({ ...r, attempt: 3, producedBy: 'monitor-controller', reason: 'no result after 3 attempts', permanent: false });

  async function announcements(): Promise<OutputMessage[]> {
    const out: OutputMessage[] = [];
    for (;;) {
      const got = await stack.resources.outputQueue.receive({ maxMessages: 10, waitSeconds: 0 });
      if (got.length === 0) return out;
      out.push(...got.map((m) => parseOutputMessage(m.body)));
      await stack.resources.outputQueue.deleteBatch(got.map((m) => m.receiptHandle));
    }
  }
  const stored = async (imageId: string) => parseOutputMessage((await stack.resources.outputBucket.getBuffer(resultKey(imageId))).toString());

  it('writes the result (a conditional create under results/, as the bucket policy demands) and announces it, with one S3 request', async () => {
    const writes: string[] = [];
    const bucket = Object.create(stack.resources.outputBucket) as ObjectStore;
    bucket.put = (key, ...rest) => (writes.push(`put ${key}`), stack.resources.outputBucket.put(key, ...rest));
    bucket.putIfAbsent = (key, ...rest) => (writes.push(`putIfAbsent ${key}`), stack.resources.outputBucket.putIfAbsent(key, ...rest));
    bucket.exists = (key) => (writes.push(`exists ${key}`), stack.resources.outputBucket.exists(key));
    const publisher = new ResultPublisher(bucket, stack.resources.outputQueue);
    const result = ok();
    expect(await publisher.publish(result)).toEqual({ result, won: true });
    expect(await stored(result.imageId)).toEqual(result);
    expect(await announcements()).toEqual([result]);
    expect(writes).toEqual([`putIfAbsent results/${result.imageId}.json`]);
  });

  it('the first result written wins: a second one is not written, and the first is announced again instead', async () => {
    const publisher = new ResultPublisher(stack.resources.outputBucket, stack.resources.outputQueue, { batch: true });
    const r = ref();
    const first = failed(r);
    const late = ok(r, 'local-9');
    await publisher.publish(first);
    expect(await publisher.publish(late)).toEqual({ result: first, won: false });
    await publisher.idle();
    expect(await stored(r.imageId)).toEqual(first);
    expect(await announcements()).toEqual([first, first]);
  });

  it('two publishers racing for one image: one winner, and every announcement is that winner', async () => {
    const r = ref();
    const a = new ResultPublisher(stack.resources.outputBucket, stack.resources.outputQueue);
    const b = new ResultPublisher(stack.resources.outputBucket, stack.resources.outputQueue);
    const outcomes = await Promise.all([a.publish(ok(r, 'local-1')), b.publish(ok(r, 'local-2'))]);
    expect(outcomes.filter((o) => o.won)).toHaveLength(1);
    const winner = await stored(r.imageId);
    expect(outcomes.map((o) => o.result)).toEqual([winner, winner]);
    expect(await announcements()).toEqual([winner, winner]);
  });

  it('announceFound: announces a stored result unless the caller knows its writer did', async () => {
    const publisher = new ResultPublisher(stack.resources.outputBucket, stack.resources.outputQueue);
    const result = ok();
    await stack.resources.outputBucket.put(resultKey(result.imageId), serialize(result)); // its writer died here
    const asked: OutputMessage[] = [];
    expect(await publisher.announceFound(result.imageId, (r) => (asked.push(r), false))).toBe('announced-now');
    expect(await publisher.announceFound(result.imageId, async () => true)).toBe('announced-before');
    expect(asked).toEqual([result]);
    expect(await announcements()).toEqual([result]);
    expect(await publisher.announceFound(randomUUID())).toBe('missing');
    await stack.resources.outputBucket.put(resultKey(r0), '{}');
    expect(await publisher.announceFound(r0)).toBe('unreadable');
    await expect(publisher.publish(ok({ ...ref(), imageId: r0 }))).rejects.toBeInstanceOf(StoredResultInvalidError);
  });
  const r0 = randomUUID();

  it('an announcement that cannot be sent fails the publish (the result stays, for whoever finds it to announce)', async () => {
    const down = Object.create(stack.resources.outputQueue) as Queue;
    down.send = () => Promise.reject(new RetryableError('sqs.SendMessage: InternalError', 'sqs.SendMessage'));
    const result = ok();
    await expect(new ResultPublisher(stack.resources.outputBucket, down).publish(result)).rejects.toThrow(/InternalError/);
    expect(await stored(result.imageId)).toEqual(result);
    const publisher = new ResultPublisher(stack.resources.outputBucket, stack.resources.outputQueue);
    expect(await publisher.announceFound(result.imageId)).toBe('announced-now');
    expect(await announcements()).toEqual([result]);
  });
});

describe('AttemptLedger', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'ledger-' });
  });
  afterAll(() => stack.stop());

  it('knows the latest attempt queued, and which attempts it supersedes', async () => {
    const ledger = new AttemptLedger(stack.resources.outputBucket);
    const imageId = randomUUID();
    expect(await ledger.latest(imageId)).toBe(0);
    expect(await ledger.isSuperseded(imageId, 1)).toBe(false);
    await ledger.record(imageId, 2);
    expect(await ledger.latest(imageId)).toBe(2);
    expect(await ledger.isSuperseded(imageId, 1)).toBe(true);
    expect(await ledger.isSuperseded(imageId, 2)).toBe(false);
  });
});
