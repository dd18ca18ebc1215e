import type { Queue } from '@app/aws';
import { parseMonitorMessage } from '@app/contracts';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { drain, enqueue, photos, recordingLogger, recordingReceives } from '../../test/worker-test-kit';
import { ClaimStage, type ClaimDeps } from './claim-stage';
import type { Job } from './job';
import { PrefetchBudget } from './prefetch-budget';

describe('ClaimStage against the embedded SQS', () => {
  let stack: TestStack;
  beforeEach(async () => {
    stack = await startTestStack({ queuePrefix: 'claim-' });
  });
  afterEach(() => stack.stop());

  function stage(budget: PrefetchBudget, over: Partial<ClaimDeps> = {}) {
    const claimed: Job[] = [];
    const finish: (() => void)[] = [];
    const { log, lines } = recordingLogger();
    // How many messages each receive from the launch queue asked for.
    const { queue: launchQueue, asked } = recordingReceives(stack.resources.launchQueue);
    const s = new ClaimStage({
      launchQueue,
      monitorQueue: stack.resources.monitorQueue,
      workerId: 'local-3',
      settings: { pollWaitSeconds: 1, imageDeadlineSeconds: 30, imageHardLimitSeconds: 60, livenessCheckSeconds: 30, prefetch: 20 },
      budget,
      log,
      work: (job) => {
        claimed.push(job);
        return new Promise<void>((r) => finish.push(r));
      },
      ...over,
    });
    return { s, claimed, finish, lines, asked };
  }

  it('receives no more than the prefetch budget has room for; claims each with its first check, then deletes it', async () => {
    const sent = await enqueue(stack, photos(6));
    const { s, claimed, finish, asked } = stage(new PrefetchBudget(20, 10_000, 2));
    s.start();
    await until('two images claimed', () => claimed.length === 2);
    // Two claimed (launch messages deleted), the other four untouched for other workers:
    // no receive asked for more than the budget's room, and none is made while it is full.
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 4, inFlight: 0 });
    expect((await stack.resources.monitorQueue.depth()).delayed).toBe(2);
    expect(asked.reduce((a, b) => a + b, 0)).toBe(2);
    expect(claimed).toHaveLength(2);
    // Each image finished makes room for one more.
    await until('all six claimed, one as each finished image makes room', () => {
      finish.splice(0).forEach((f) => f());
      return claimed.length === 6;
    });
    finish.splice(0).forEach((f) => f());
    await s.stop();
    expect(claimed.map((j) => j.msg.imageId).sort()).toEqual(sent.map((m) => m.imageId).sort());
    expect(claimed.every((j) => j.t.claim !== undefined)).toBe(true);
  }, 30_000);

  it('sends a check naming the worker, the attempt and both deadlines', async () => {
    const [sent] = await enqueue(stack, photos(1), 2);
    const { s, claimed, finish } = stage(new PrefetchBudget(20, 10_000), {
      settings: { pollWaitSeconds: 1, imageDeadlineSeconds: 30, imageHardLimitSeconds: 60, livenessCheckSeconds: 1, prefetch: 20 },
    });
    s.start();
    await until('the image claimed', () => claimed.length === 1);
    finish[0]();
    await s.stop();
    const [body] = await drain(stack.resources.monitorQueue, 1, 5000);
    const check = parseMonitorMessage(body);
    expect(check).toMatchObject({ imageId: sent.imageId, attempt: 2, instanceId: 'local-3' });
    expect(Date.parse(check.deadline) - Date.parse(check.startedAt)).toBe(30_000);
    expect(Date.parse(check.hardDeadline ?? '') - Date.parse(check.startedAt)).toBe(60_000);
  }, 30_000);

  it('leaves the launch message when its check cannot be sent, and claims nothing', async () => {
    await enqueue(stack, photos(1));
    const down = Object.create(stack.resources.monitorQueue) as Queue;
    down.sendBatch = () => Promise.reject(new Error('monitor queue down'));
    const { s, claimed, lines } = stage(new PrefetchBudget(20, 10_000), { monitorQueue: down });
    s.start();
    await until('the failed check logged', () => lines.some((l) => l.msg === 'cannot send monitor messages: images left in the launch queue'));
    await s.stop();
    expect(claimed).toEqual([]);
    expect((await stack.resources.launchQueue.depth()).inFlight).toBe(1); // back after its visibility timeout
  }, 30_000);

  it('once the idle time is spent, starts no poll (none is left pending) and says so once', async () => {
    let idle = 0;
    const started = Date.now();
    const budget = new PrefetchBudget(20, 10_000);
    const { s, asked } = stage(budget, { idleLeftMs: () => 1500 - (Date.now() - started), onIdle: () => idle++ });
    s.start();
    await until('the stage to say it is idle', () => idle > 0, 5000);
    expect(Date.now() - started).toBeLessThan(3000);
    const polls = asked.length;
    // What would wake a receive waiting for room starts no poll and no second idle: no poll is
    // left pending on the queue's side (where it could take a message nobody will handle).
    budget.changed();
    await s.stop();
    expect(asked).toHaveLength(polls);
    expect(idle).toBe(1);
  }, 30_000);
  it('a message still waiting for room when the worker stops is given back at once, not deleted', async () => {
    const [sent] = await enqueue(stack, photos(1));
    const budget = new PrefetchBudget(1, 10_000, 1);
    // The one slot is taken (as by a claim racing this receive): the message must wait.
    expect(await budget.acquire()).toBe(true);
    const received: string[] = [];
    const { s, claimed } = stage(budget, { onReceived: () => received.push('x') });
    s.start();
    await until('the message received', () => received.length === 1);
    await s.stop();
    expect(claimed).toEqual([]);
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 1, inFlight: 0 });
    const [back] = await stack.resources.launchQueue.receive({ maxMessages: 1 });
    expect(JSON.parse(back.body)).toMatchObject({ imageId: sent.imageId });
  }, 30_000);
});
