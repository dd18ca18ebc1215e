import { DeleteQueueCommand, GetQueueAttributesCommand, ListQueuesCommand, ListQueueTagsCommand } from '@aws-sdk/client-sqs';
import { loadConfig, type AppConfig } from '@app/config';
import { startLocalAws, LOCAL_CREDENTIALS, type LocalAws } from '@tools/local-aws';
import { AwsResources } from './aws-resources';
import { AwsClients } from './clients';
import { LAST_SEEN_TAG, SubscribedQueue } from './subscribed-queue';
import { Topic } from './topic';

describe('results topic: publish to SNS, one subscribed queue per process (against the local edge)', () => {
  let aws: LocalAws;
  let clients: AwsClients;
  let topic: Topic;
  let resources: AwsResources;
  let config: AppConfig;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
    clients = new AwsClients(loadConfig(aws.env));
    topic = await Topic.create(clients.sns, 'results');
    config = loadConfig({ ...aws.env, OUTPUT_TOPIC_ARN: topic.arn });
    resources = new AwsResources(config, clients);
  });
  afterAll(async () => {
    clients?.destroy();
    await aws?.stop();
  });

  const queueNames = async (prefix: string) =>
    ((await clients.sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }))).QueueUrls ?? []).map((u) => u.slice(u.lastIndexOf('/') + 1)).sort();
  const bodies = async (q: SubscribedQueue, n: number) => {
    const got: string[] = [];
    while (got.length < n) {
      const batch = await q.queue.receive({ maxMessages: 10, waitSeconds: 1 });
      got.push(...batch.map((m) => m.body));
      if (batch.length > 0) await q.queue.deleteBatch(batch.map((m) => m.receiptHandle));
    }
    return got.sort();
  };

  it('announces results on the topic when OUTPUT_TOPIC_ARN is set, else on the output queue', () => {
    expect(resources.resultAnnouncements).toBe(resources.outputTopic);
    expect(resources.outputTopic?.arn).toBe('arn:aws:sns:us-east-1:000000000000:results');
    const queueOnly = new AwsResources(loadConfig(aws.env), clients);
    expect(queueOnly.outputTopic).toBeUndefined();
    expect(queueOnly.resultAnnouncements).toBe(queueOnly.outputQueue);
  });

  it('every subscribed queue gets every message, as published (raw), in batch calls of ten', async () => {
    const a = await resources.subscribeToResults({ name: 'fan-a', retentionSeconds: 600 });
    const b = await resources.subscribeToResults({ name: 'fan-b', retentionSeconds: 600 });
    const messages = Array.from({ length: 13 }, (_, i) => JSON.stringify({ imageId: `img-${i}` }));
    const refused = await topic.sendBatch(messages.map((body, i) => ({ id: String(i), body })));
    expect(refused).toEqual([]);
    expect(await bodies(a, 13)).toEqual([...messages].sort());
    expect(await bodies(b, 13)).toEqual([...messages].sort());
    // The queue expires what its owner never reads, and only the topic may send to it.
    const attrs = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: a.queue.url, AttributeNames: ['MessageRetentionPeriod', 'Policy'] }));
    expect(attrs.Attributes?.MessageRetentionPeriod).toBe('600');
    expect(JSON.parse(attrs.Attributes?.Policy ?? '{}').Statement[0]).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'sns.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: a.queueArn,
      Condition: { ArnEquals: { 'aws:SourceArn': topic.arn } },
    });
    // A delayed entry is refused as the sender's fault, not sent early.
    expect(await topic.sendBatch([{ id: 'late', body: 'x', delaySeconds: 5 }])).toEqual([expect.objectContaining({ id: 'late', senderFault: true })]);

    await a.remove();
    await b.remove();
    expect(await topic.subscriptionsOf(a.queueArn)).toEqual([]);
    expect(await queueNames('fan-')).toEqual([]);
  });

  it("a subscribed queue is a fair queue for the published MessageGroupId: a quiet tenant's result is received before a busy tenant's backlog", async () => {
    const q = await resources.subscribeToResults({ name: 'fair-results', retentionSeconds: 600 });
    const busy = Array.from({ length: 9 }, (_, i) => ({ id: `b${i}`, body: `busy-${i}`, messageGroupId: 'busy' }));
    expect(await topic.sendBatch([...busy, { id: 'q0', body: 'quiet-0', messageGroupId: 'quiet' }])).toEqual([]);
    // Sent last, received first: the group with the fewest messages outstanding is served first.
    const [first] = await q.queue.receive({ maxMessages: 1, waitSeconds: 1 });
    expect(first.body).toBe('quiet-0');
    await q.queue.delete(first.receiptHandle);
    expect(await bodies(q, 9)).toEqual(busy.map((b) => b.body).sort());
    await q.remove();
  });

  it('finds its queue again when one of its name is already there with another last-seen tag (a restart, or a retry whose first answer was lost)', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const now = () => clock;
    const first = await resources.subscribeToResults({ name: 'again-1', retentionSeconds: 600, now });
    // The owner died without removing its queue; it comes back under the same name, seconds later.
    await topic.unsubscribe(first.subscriptionArn);
    clock += 5_000;
    const again = await resources.subscribeToResults({ name: 'again-1', retentionSeconds: 600, now });
    expect(again.queue.url).toBe(first.queue.url);
    expect(again.queueArn).toBe(first.queueArn);
    const tags = await clients.sqs.send(new ListQueueTagsCommand({ QueueUrl: again.queue.url }));
    expect(tags.Tags?.[LAST_SEEN_TAG]).toBe(String(clock / 1000));
    expect(await topic.subscriptionsOf(again.queueArn)).toEqual([again.subscriptionArn]);
    await topic.send('to the queue found again');
    expect(await bodies(again, 1)).toEqual(['to the queue found again']);
    await again.remove();
  });

  it('a sweep removes the queues whose owner stopped touching them, and only those', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const now = () => clock;
    const gone = await resources.subscribeToResults({ name: 'sweep-gone', retentionSeconds: 600, now });
    const alive = await resources.subscribeToResults({ name: 'sweep-alive', retentionSeconds: 600, now });
    const self = await resources.subscribeToResults({ name: 'sweep-self', retentionSeconds: 600, now });
    // A queue deleted without its subscription (an owner that died between the two): the subscription goes.
    const dangling = await resources.subscribeToResults({ name: 'sweep-dangling', retentionSeconds: 600, now });
    await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: dangling.queue.url }));
    const other = await resources.subscribeToResults({ name: 'other-prefix', retentionSeconds: 600, now });
    clock += 10 * 60_000;
    await alive.touch();
    const tags = await clients.sqs.send(new ListQueueTagsCommand({ QueueUrl: alive.queue.url }));
    expect(tags.Tags?.[LAST_SEEN_TAG]).toBe(String(clock / 1000));
    clock += 6 * 60_000;

    const removed = await resources.sweepResultQueues({ prefix: 'sweep-', abandonedAfterSeconds: 15 * 60, keepArn: self.queueArn, now });
    expect(removed.sort()).toEqual([gone.queueArn, dangling.queueArn].sort());
    expect(await topic.subscriptionsOf(gone.queueArn)).toEqual([]);
    expect(await topic.subscriptionsOf(dangling.queueArn)).toEqual([]);
    expect(await topic.subscriptionsOf(other.queueArn)).toEqual([other.subscriptionArn]);
    expect(await queueNames('sweep-')).toEqual(['sweep-alive', 'sweep-self']);
    await topic.send('after the sweep');
    expect(await bodies(alive, 1)).toEqual(['after the sweep']);
    await alive.remove();
    await self.remove();
    await other.remove();
  });
});
