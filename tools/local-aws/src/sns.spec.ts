import {
  CreateTopicCommand,
  ListSubscriptionsByTopicCommand,
  NotFoundException,
  PublishBatchCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from './local-aws';

jest.setTimeout(30_000);

describe('SNS on the local edge (a test double), driven by the real SDK', () => {
  let aws: LocalAws;
  let sns: SNSClient;
  let sqs: SQSClient;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    const common = { region: 'us-east-1', endpoint: aws.endpoint, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 };
    sns = new SNSClient(common);
    sqs = new SQSClient(common);
  });
  afterAll(async () => {
    sns?.destroy();
    sqs?.destroy();
    await aws?.stop();
  });

  async function queue(name: string): Promise<{ url: string; arn: string }> {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl ?? '';
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    return { url, arn: attrs.Attributes?.['QueueArn'] ?? '' };
  }

  async function drain(url: string): Promise<{ Body?: string; MessageAttributes?: Record<string, { StringValue?: string }> }[]> {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }));
    return out.Messages ?? [];
  }

  it('fans one published message out to every subscribed queue: raw delivery as published, otherwise in the SNS envelope', async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'results' }));
    expect(TopicArn).toBe('arn:aws:sns:us-east-1:000000000000:results');
    // CreateTopic is idempotent by name.
    expect((await sns.send(new CreateTopicCommand({ Name: 'results' }))).TopicArn).toBe(TopicArn);
    const tier1 = await queue('tier-1');
    const tier2 = await queue('tier-2');
    const wrapped = await queue('wrapped');
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: tier1.arn, Attributes: { RawMessageDelivery: 'true' } }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: tier2.arn, Attributes: { RawMessageDelivery: 'true' } }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: wrapped.arn }));

    const body = JSON.stringify({ imageId: 'a', label: 'tabby, tabby cat' });
    const { MessageId } = await sns.send(
      new PublishCommand({ TopicArn, Message: body, MessageAttributes: { kind: { DataType: 'String', StringValue: 'result' } } }),
    );
    expect(MessageId).toMatch(/^[0-9a-f-]{36}$/);
    for (const tier of [tier1, tier2]) {
      const [m] = await drain(tier.url);
      expect(m.Body).toBe(body);
      expect(m.MessageAttributes?.['kind']?.StringValue).toBe('result');
    }
    const [envelope] = await drain(wrapped.url);
    expect(JSON.parse(envelope.Body ?? '')).toMatchObject({ Type: 'Notification', MessageId, TopicArn, Message: body, MessageAttributes: { kind: { Type: 'String', Value: 'result' } } });
  });

  it('PublishBatch delivers every entry and reports each id; Unsubscribe stops deliveries; a second Subscribe returns the same subscription', async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'batches' }));
    const q = await queue('batch-target');
    const first = await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    const again = await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    expect(again.SubscriptionArn).toBe(first.SubscriptionArn);
    const listed = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
    expect(listed.Subscriptions?.map((s) => s.Endpoint)).toEqual([q.arn]);

    const out = await sns.send(
      new PublishBatchCommand({ TopicArn, PublishBatchRequestEntries: Array.from({ length: 3 }, (_, i) => ({ Id: `e${i}`, Message: `m${i}` })) }),
    );
    expect(out.Successful?.map((s) => s.Id)).toEqual(['e0', 'e1', 'e2']);
    expect(out.Failed ?? []).toEqual([]);
    expect((await drain(q.url)).map((m) => m.Body).sort()).toEqual(['m0', 'm1', 'm2']);

    await sns.send(new UnsubscribeCommand({ SubscriptionArn: first.SubscriptionArn }));
    await sns.send(new PublishCommand({ TopicArn, Message: 'after' }));
    expect(await drain(q.url)).toEqual([]);
  });

  it('forwards MessageGroupId (Publish and PublishBatch) to subscribed standard queues, as a standard topic does for SQS fair queues', async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'grouped' }));
    const q = await queue('grouped-target');
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    await sns.send(new PublishCommand({ TopicArn, Message: 'one', MessageGroupId: 'tenant-a' }));
    await sns.send(new PublishBatchCommand({ TopicArn, PublishBatchRequestEntries: [{ Id: 'e0', Message: 'two', MessageGroupId: 'tenant-b' }, { Id: 'e1', Message: 'three' }] }));
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, AttributeNames: ['All'], MessageSystemAttributeNames: ['MessageGroupId'] }));
    const groups = Object.fromEntries((out.Messages ?? []).map((m) => [m.Body, m.Attributes?.MessageGroupId ?? null]));
    expect(groups).toEqual({ one: 'tenant-a', two: 'tenant-b', three: null });
  });

  it('drops deliveries to a subscribed queue that was deleted (as SNS does), also after it delivered there', async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'outlived' }));
    const kept = await queue('kept');
    const gone = await queue('gone');
    for (const q of [kept, gone]) await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    await sns.send(new PublishCommand({ TopicArn, Message: 'before' }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: gone.url }));
    await sns.send(new PublishBatchCommand({ TopicArn, PublishBatchRequestEntries: [{ Id: 'a', Message: 'after' }] }));
    expect((await drain(kept.url)).map((m) => m.Body).sort()).toEqual(['after', 'before']);
  });

  it('answers SNS errors the SDK knows: a missing topic is NotFound', async () => {
    await expect(sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:nope', Message: 'x' }))).rejects.toBeInstanceOf(NotFoundException);
    await expect(sns.send(new CreateTopicCommand({ Name: 'bad name!' }))).rejects.toThrow(/Topic Name/);
  });
});
