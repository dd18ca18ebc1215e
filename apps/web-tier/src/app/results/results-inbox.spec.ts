import { Logger } from '@nestjs/common';
import type { AwsResources, Queue, SubscribedQueue, Topic } from '@app/aws';
import { loadConfig } from '@app/config';
import { ResultsInbox, TIER_QUEUE_RETENTION_SECONDS } from './results-inbox';

const config = loadConfig({ LAUNCH_QUEUE_URL: 'http://q/l', MONITOR_QUEUE_URL: 'http://q/m', OUTPUT_QUEUE_URL: 'http://q/o', LOG_LEVEL: 'silent' });

/** The AWS side as the inbox uses it, recording each call. */
function fakeAws(o: { topic: boolean; sweepFails?: boolean }) {
  const calls: string[] = [];
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
      return own;
    },
    sweepResultQueues: async (opts: { prefix: string; keepArn?: string }) => {
      calls.push(`sweep ${opts.prefix} keeping ${opts.keepArn}`);
      if (o.sweepFails) throw new Error('SNS is down');
      return [];
    },
  } as unknown as AwsResources;
  return { aws, calls, own, outputQueue };
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
});
