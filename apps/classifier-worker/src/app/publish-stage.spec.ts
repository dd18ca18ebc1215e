import { outputSuccess, parseOutputMessage, resultKey } from '@app/contracts';
import { AttemptLedger, ResultPublisher } from '@app/results';
import { startTestStack, type TestStack } from '@tools/testing';
import { enqueue, outputs, photos } from '../../test/worker-test-kit';
import type { Job } from './job';
import { PublishStage } from './publish-stage';

describe('PublishStage against the embedded S3/SQS', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'publish-' });
  });
  afterAll(() => stack.stop());

  async function setUp(attempt: number, producedBy = 'local-1') {
    const [msg] = await enqueue(stack, photos(1), attempt);
    const job: Job = { msg, receiveCount: 1, receivedAt: performance.now(), t: {} };
    const result = outputSuccess({ batchId: msg.batchId, imageId: msg.imageId, fileName: msg.fileName, attempt, producedBy, completedAt: new Date().toISOString(), label: 'tench', confidence: 0.5, top5: [], timings: {} });
    const ledger = new AttemptLedger(stack.resources.outputBucket);
    const lookups: string[] = [];
    const latest = ledger.latest.bind(ledger);
    ledger.latest = (imageId) => (lookups.push(imageId), latest(imageId));
    // Takes older than the first check (60 s) may have been superseded; younger ones cannot have been.
    const stage = new PublishStage(new ResultPublisher(stack.resources.outputBucket, stack.resources.outputQueue, { batch: true }), ledger, 60_000);
    return { job, result, stage, lookups };
  }
  const stored = async (id: string) => parseOutputMessage((await stack.resources.outputBucket.getBuffer(resultKey(id))).toString());

  it('publishes: the result is written and announced, and its time recorded', async () => {
    const { job, result, stage } = await setUp(1);
    expect(await stage.run(job, result)).toBe('published');
    await stage.idle();
    expect(await stored(job.msg.imageId)).toEqual(result);
    expect(await outputs(stack, 1, 3000)).toEqual([result]);
    expect(job.t.publish).toEqual(expect.any(Number));
  });

  it('discards the work of an attempt the monitor has superseded', async () => {
    const { job, result, stage } = await setUp(1);
    job.receivedAt = performance.now() - 61_000; // its first check has come due
    await new AttemptLedger(stack.resources.outputBucket).record(job.msg.imageId, 2);
    expect(await stage.run(job, result)).toBe('superseded');
    expect(await stack.resources.outputBucket.exists(resultKey(job.msg.imageId))).toBe(false);
  });

  it('does not look up a take younger than its first check in the attempt ledger (nothing can have superseded it)', async () => {
    const { job, result, stage, lookups } = await setUp(1);
    expect(await stage.run(job, result)).toBe('published');
    await stage.idle();
    expect(lookups).toEqual([]);
    expect(await outputs(stack, 1, 3000)).toEqual([result]);
  });

  it('keeps the answer that was there first, and announces that one', async () => {
    const { job, result, stage } = await setUp(2, 'local-2');
    const first = { ...result, producedBy: 'local-1', label: 'goldfish' } as typeof result;
    await stack.resources.outputBucket.put(resultKey(job.msg.imageId), JSON.stringify(first));
    expect(await stage.run(job, result)).toBe('answered-before');
    await stage.idle();
    expect(await stored(job.msg.imageId)).toMatchObject({ producedBy: 'local-1', label: 'goldfish' });
    expect(await outputs(stack, 1, 3000)).toEqual([expect.objectContaining({ producedBy: 'local-1', label: 'goldfish' })]);
  });

  it("announces under the image's tenant: a quiet tenant's result is received before a busy tenant's that were announced first", async () => {
    const stage = new PublishStage(new ResultPublisher(stack.resources.outputBucket, stack.resources.outputQueue, { batch: true }), new AttemptLedger(stack.resources.outputBucket), 60_000);
    const take = async (tenant: string) => {
      const [msg] = await enqueue(stack, photos(1), 1, tenant);
      const job: Job = { msg, receiveCount: 1, receivedAt: performance.now(), t: {} };
      const result = outputSuccess({ batchId: msg.batchId, imageId: msg.imageId, fileName: msg.fileName, attempt: 1, producedBy: 'local-1', completedAt: new Date().toISOString(), label: 'tench', confidence: 0.5, top5: [], timings: {} });
      return { job, result };
    };
    const busy = [await take('busy'), await take('busy'), await take('busy')];
    const quiet = await take('quiet');
    for (const { job, result } of [...busy, quiet]) expect(await stage.run(job, result)).toBe('published');
    await stage.idle();
    const [first] = await stack.resources.outputQueue.receive({ maxMessages: 1, waitSeconds: 1 });
    expect(parseOutputMessage(first.body).imageId).toBe(quiet.job.msg.imageId);
    await stack.resources.outputQueue.delete(first.receiptHandle);
    expect((await outputs(stack, 3, 3000)).map((o) => o.imageId).sort()).toEqual(busy.map((b) => b.job.msg.imageId).sort());
  });
});
