import { Logger } from '@nestjs/common';
import { AccessDeniedError, UnreachableError, type AwsResources, type Queue, type SubscribedQueue, type Topic } from '@app/aws';
import { loadConfig } from '@app/config';
import { ResultsInbox, TIER_QUEUE_RETENTION_SECONDS } from './results-inbox';

const config = loadConfig({ LAUNCH_QUEUE_URL: 'http://q/l', MONITOR_QUEUE_URL: 'http://q/m', OUTPUT_QUEUE_URL: 'http://q/o', LOG_LEVEL: 'silent' });

/** The AWS side as the inbox uses it, recording each call. */
function fakeAws(o: { topic: boolean; sweepFails?: boolean; subscribeFailures?: Error[] }) {
  const calls: string[] = [];
  const names = new Set<string>();
  const outputQueue = { url: 'http://q/o' } as Queue;
  const own = {
    queue: { url: 'http://q/ics-web-tier-x' } as Queue,
    queueArn: 'arn:aws:sqs:us-east-1:000000000000:ics-web-tier-x',
    touch: async () => void calls.push('touch'),
    remove: async () => void calls.push('remove'),
  } as unknown as SubscribedQueue;
  const aws = {
    outputQueue,
    outputTopic: o.topic ? ({ arn: 'arn:aws:sns:us-east-1:000000000000:results' } as Topic) : undefined,
    subscribeToResults: async (opts: { name: string; retentionSeconds: number }) => {
      calls.push(`subscribe ${opts.name.replace(/[0-9a-f]{16}$/, '<id>')} ${opts.retentionSeconds}`);
      names.add(opts.name);
      const failure = o.subscribeFailures?.shift();
      if (failure) throw failure;
      return own;
    },
    sweepResultQueues: async (opts: { prefix: string; keepArn?: string }) => {
      calls.push(`sweep ${opts.prefix} keeping ${opts.keepArn}`);
      if (o.sweepFails) throw new Error('SNS is down');
      return [];
    },
  } as unknown as AwsResources;
  return { aws, calls, own, outputQueue, names };
}

describe('ResultsInbox: where a web tier hears results', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterEach(() => jest.useRealTimers());

  it('without a results topic: the one output queue, nothing created or removed', async () => {
    const { aws, calls, outputQueue } = fakeAws({ topic: false });
    const inbox = await ResultsInbox.open(aws, config);
    expect(inbox.queue).toBe(outputQueue);
    expect(inbox.ownQueue).toBe(false);
    await inbox.close();
    expect(calls).toEqual([]);
  });

  it('with a topic: a queue of its own, marked alive every minute with a sweep of abandoned ones, removed once at close', async () => {
    jest.useFakeTimers();
    const { aws, calls, own } = fakeAws({ topic: true, sweepFails: true });
    const inbox = await ResultsInbox.open(aws, config);
    expect(inbox.queue).toBe(own.queue);
    expect(inbox.ownQueue).toBe(true);
    const sweep = `sweep ics-web-tier- keeping ${own.queueArn}`;
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([`subscribe ics-web-tier-<id> ${TIER_QUEUE_RETENTION_SECONDS}`, sweep]);

    // A failing sweep is logged and tried again next round, never thrown.
    await jest.advanceTimersByTimeAsync(60_000);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls.slice(2)).toEqual(['touch', sweep, 'touch', sweep]);

    await Promise.all([inbox.close(), inbox.close()]);
    await jest.advanceTimersByTimeAsync(120_000);
    expect(calls.slice(6)).toEqual(['remove']);
  });

  it('a tier that starts while SQS or SNS is unreachable keeps trying, 1 s doubling up to 30 s, with the same queue name, and opens once they answer', async () => {
    jest.useFakeTimers();
    const unreachable = () => new UnreachableError('sqs.CreateQueue: ECONNREFUSED', 'sqs.CreateQueue');
    const { aws, calls, own, names } = fakeAws({ topic: true, subscribeFailures: Array.from({ length: 7 }, unreachable) });
    let opened: ResultsInbox | undefined;
    void ResultsInbox.open(aws, config).then((inbox) => (opened = inbox));
    const subscribes = () => calls.filter((c) => c.startsWith('subscribe')).length;
    await jest.advanceTimersByTimeAsync(0);
    expect(subscribes()).toBe(1);
    // Waits of at most 1, 2, 4, 8, 16, 30, 30 s (randomised up to 2x below the cap): all seven tries by 2+4+8+16+30+30+30 s.
    await jest.advanceTimersByTimeAsync(120_000);
    expect(subscribes()).toBe(8);
    expect(opened?.queue).toBe(own.queue);
    // One name for every try: a try that created the queue before failing leaves nothing behind.
    expect(names.size).toBe(1);
    await opened?.close();
  });

  it('a tier whose role may not create its queue fails at once, with the reason', async () => {
    const denied = new AccessDeniedError('sqs.CreateQueue: AccessDenied', 'sqs.CreateQueue');
    const { aws, calls } = fakeAws({ topic: true, subscribeFailures: [denied] });
    await expect(ResultsInbox.open(aws, config)).rejects.toThrow('AccessDenied');
    expect(calls.filter((c) => c.startsWith('subscribe'))).toHaveLength(1);
  });
});
