import { startTestStack, until, type TestStack } from '@tools/testing';
import { enqueue, photos, recordingLogger, recordingReceives } from '../../test/worker-test-kit';
import { ClaimStage } from './claim-stage';
import type { Job } from './job';
import { PrefetchBudget } from './prefetch-budget';

/** One turn of the event loop: what a settled claim sets off (a receive) has started by then. */
const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * A claim stage with a budget of 20 whose work holds each image until the test finishes it
 * (`finishOne`); `stop` finishes what is left and waits for every claim to settle.
 */
function holdingStage(stack: TestStack, workerId: string, receiveGatherMs: number) {
  const claimed: Job[] = [];
  const finish: (() => void)[] = [];
  let settled = 0;
  const { queue: launchQueue, asked, deleted } = recordingReceives(stack.resources.launchQueue);
  const stage = new ClaimStage({
    launchQueue,
    monitorQueue: stack.resources.monitorQueue,
    workerId,
    settings: { pollWaitSeconds: 1, imageDeadlineSeconds: 60, imageHardLimitSeconds: 120, livenessCheckSeconds: 30, prefetch: 20, receiveGatherMs },
    budget: new PrefetchBudget(20, 60_000, 20),
    log: recordingLogger().log,
    work: (job) => {
      claimed.push(job);
      return new Promise<void>((r) => finish.push(r));
    },
    onSettled: () => settled++,
  });
  return {
    stage,
    claimed,
    asked,
    deleted,
    settled: () => settled,
    finishOne: () => finish.shift()?.(),
    async stop(): Promise<void> {
      const stopping = stage.stop();
      await until('every claim finished', () => {
        finish.splice(0).forEach((f) => f());
        return settled === claimed.length;
      });
      await stopping;
    },
  };
}

describe('ClaimStage batching against the embedded SQS', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'claim-batch-' });
  });
  afterAll(() => stack.stop());

  it('receives in batches of a quarter of the budget as images finish, not one message per finished image', async () => {
    await enqueue(stack, photos(30));
    // Gathering room for a whole minute: this test is about room, not time.
    const { stage, claimed, asked, deleted, settled, finishOne, stop } = holdingStage(stack, 'local-7', 60_000);
    try {
      stage.start();
      await until('the budget full', () => claimed.length === 20);
      expect(asked).toEqual([10, 10]);
      // Four images finish one by one: room for fewer than a quarter of the budget, so no receive.
      for (let i = 1; i <= 4; i++) {
        finishOne();
        await until(`image ${i} settled`, () => settled() === i);
        await turn();
      }
      expect(asked).toEqual([10, 10]);
      // The fifth makes room for a quarter: one receive takes five.
      finishOne();
      await until('five more claimed', () => claimed.length === 25);
      expect(asked).toEqual([10, 10, 5]);
      // Five more finish: one receive takes the last five.
      for (let i = 6; i <= 10; i++) {
        finishOne();
        await until(`image ${i} settled`, () => settled() === i);
        await turn();
      }
      await until('the last five claimed', () => claimed.length === 30);
      expect(asked).toEqual([10, 10, 5, 5]);
      // Their deletes go in at most one call per receive, after the images have started (work does
      // not wait for them): nothing is left in the launch queue once the last call has gone.
      await until('all thirty deleted', () => deleted.reduce((a, b) => a + b, 0) === 30);
      expect(deleted.length).toBeLessThanOrEqual(asked.length);
      await until('the launch queue empty', async () => {
        const depth = await stack.resources.launchQueue.depth();
        return depth.visible === 0 && depth.inFlight === 0;
      });
    } finally {
      await stop();
    }
  }, 30_000);

  it("receives once the gather time has passed with room for one: a quiet tenant's message does not wait for a quarter of the budget to free", async () => {
    await enqueue(stack, photos(30), 1, 'busy');
    const { stage, claimed, asked, finishOne, stop } = holdingStage(stack, 'local-8', 50);
    try {
      stage.start();
      await until('the budget full of the busy tenant', () => claimed.length === 20);
      const [quiet] = await enqueue(stack, photos(1), 1, 'quiet');
      // One of the busy tenant's images finishes: room for one, short of a quarter of the budget.
      finishOne();
      await until("the quiet tenant's image claimed", () => claimed.some((j) => j.msg.imageId === quiet.imageId));
      expect(asked).toEqual([10, 10, 1]);
      expect(claimed).toHaveLength(21);
    } finally {
      await stop();
    }
  }, 30_000);
});
