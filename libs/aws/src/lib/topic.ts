import {
  CreateTopicCommand,
  ListSubscriptionsByTopicCommand,
  PublishBatchCommand,
  PublishCommand,
  SubscribeCommand,
  UnsubscribeCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import { call } from './errors';
import { SQS_BATCH_LIMIT, type BatchEntry, type BatchFailure } from './queue';

/**
 * Where a message can be sent, one at a time or in batch calls: an SQS queue
 * or an SNS topic. Result announcements go to one or the other (see
 * AwsResources.resultAnnouncements).
 */
export interface MessageSink {
  /** Sends one message; returns its id. */
  send(body: string): Promise<string>;
  /** Sends any number of messages in calls of ten; returns the entries refused. */
  sendBatch(entries: BatchEntry[]): Promise<BatchFailure[]>;
}

/** PublishBatch takes at most ten entries, as SendMessageBatch does. */
const SNS_BATCH_LIMIT = SQS_BATCH_LIMIT;

/** One SNS topic: publish to it, and subscribe SQS queues to it with raw message delivery. */
export class Topic implements MessageSink {
  constructor(
    private readonly sns: SNSClient,
    readonly arn: string,
  ) {}

  /** Creates the topic, or finds it: CreateTopic is idempotent by name. */
  static async create(sns: SNSClient, name: string): Promise<Topic> {
    const out = await call('sns.CreateTopic', () => sns.send(new CreateTopicCommand({ Name: name })));
    if (!out.TopicArn) throw new Error(`sns.CreateTopic: no TopicArn for ${name}`);
    return new Topic(sns, out.TopicArn);
  }

  async send(body: string): Promise<string> {
    const out = await call('sns.Publish', () => this.sns.send(new PublishCommand({ TopicArn: this.arn, Message: body })));
    return out.MessageId ?? '';
  }

  /** SNS has no per-message delay: an entry with one is refused (a sender fault), not sent early. */
  async sendBatch(entries: BatchEntry[]): Promise<BatchFailure[]> {
    const failures: BatchFailure[] = entries
      .filter((e) => (e.delaySeconds ?? 0) > 0)
      .map((e) => ({ id: e.id, code: 'InvalidParameter', message: 'a topic cannot delay a message', senderFault: true }));
    const sendable = entries.filter((e) => !((e.delaySeconds ?? 0) > 0));
    for (let i = 0; i < sendable.length; i += SNS_BATCH_LIMIT) {
      const chunk = sendable.slice(i, i + SNS_BATCH_LIMIT);
      const out = await call('sns.PublishBatch', () =>
        this.sns.send(
          new PublishBatchCommand({
            TopicArn: this.arn,
            // A standard topic forwards MessageGroupId to its SQS subscriptions: fair queues there too.
            PublishBatchRequestEntries: chunk.map((e) => ({ Id: e.id, Message: e.body, ...(e.messageGroupId ? { MessageGroupId: e.messageGroupId } : {}) })),
          }),
        ),
      );
      for (const f of out.Failed ?? []) {
        failures.push({ id: f.Id ?? '', code: f.Code ?? 'Unknown', message: f.Message ?? '', senderFault: f.SenderFault ?? false });
      }
    }
    return failures;
  }

  /**
   * Subscribes an SQS queue with raw message delivery (the queue receives each
   * message body as published, not SNS's JSON envelope); returns the
   * subscription's ARN. Subscribing the same queue again returns the same one.
   */
  async subscribeQueue(queueArn: string): Promise<string> {
    const out = await call('sns.Subscribe', () =>
      this.sns.send(
        new SubscribeCommand({ TopicArn: this.arn, Protocol: 'sqs', Endpoint: queueArn, Attributes: { RawMessageDelivery: 'true' }, ReturnSubscriptionArn: true }),
      ),
    );
    if (!out.SubscriptionArn) throw new Error(`sns.Subscribe: no SubscriptionArn for ${queueArn}`);
    return out.SubscriptionArn;
  }

  async unsubscribe(subscriptionArn: string): Promise<void> {
    await call('sns.Unsubscribe', () => this.sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn })));
  }

  /** Every subscription of the topic (every page of its list): its ARN and endpoint (for SQS, the queue's ARN). */
  async subscriptions(): Promise<{ arn: string; endpoint: string }[]> {
    const found: { arn: string; endpoint: string }[] = [];
    let token: string | undefined;
    do {
      const out = await call('sns.ListSubscriptionsByTopic', () => this.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: this.arn, NextToken: token })));
      for (const s of out.Subscriptions ?? []) if (s.SubscriptionArn && s.Endpoint) found.push({ arn: s.SubscriptionArn, endpoint: s.Endpoint });
      token = out.NextToken;
    } while (token);
    return found;
  }

  /** The subscriptions that deliver to this queue. */
  async subscriptionsOf(queueArn: string): Promise<string[]> {
    return (await this.subscriptions()).filter((s) => s.endpoint === queueArn).map((s) => s.arn);
  }
}
