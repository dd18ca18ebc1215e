import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueueTagsCommand,
  SetQueueAttributesCommand,
  TagQueueCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { call, NotFoundError, RequestRejectedError } from './errors';
import { Queue, type QueueOptions } from './queue';
import type { Topic } from './topic';

/** Tag on each subscribed queue: when its owner last said it is alive (seconds since epoch). */
export const LAST_SEEN_TAG = 'ics:last-seen';

export interface SubscribedQueueOptions {
  /** The queue's name (`[A-Za-z0-9_-]{1,80}`); unique per owner, e.g. a prefix and a random id. */
  name: string;
  /**
   * How long an unread message stays, seconds (SQS: 60..1209600): a queue whose
   * owner died holds no more than this much of the topic's traffic.
   */
  retentionSeconds: number;
  queueOptions?: QueueOptions;
  /** Injected clock (ms), for the last-seen tag. */
  now?: () => number;
}

const seconds = (ms: number) => String(Math.floor(ms / 1000));

/**
 * An SQS queue of one process, subscribed to a topic with raw message
 * delivery: every process that opens one hears every message published to the
 * topic. Opened at start (created, or found again with the same name), removed
 * at shutdown (unsubscribed, then deleted). A process that dies without
 * removing its queue leaves it behind: its last-seen tag stops moving, and any
 * other owner's sweep removes it once that is older than the abandonment
 * bound; until then, retention bounds what it holds. Every call is on the
 * topic or on queues of the owner's name prefix, so IAM can bound an owner to
 * both.
 */
export class SubscribedQueue {
  private constructor(
    private readonly sqs: SQSClient,
    private readonly topic: Topic,
    readonly queue: Queue,
    readonly queueArn: string,
    readonly subscriptionArn: string,
    private readonly now: () => number,
  ) {}

  static async open(sqs: SQSClient, topic: Topic, o: SubscribedQueueOptions): Promise<SubscribedQueue> {
    const now = o.now ?? Date.now;
    const url = await createOrFind(sqs, o.name, {
      attributes: {
        MessageRetentionPeriod: String(o.retentionSeconds),
        // Encrypted at rest, as the stack's own queues are (SSE-SQS).
        SqsManagedSseEnabled: 'true',
      },
      tags: { [LAST_SEEN_TAG]: seconds(now()) },
    });
    const queueArn = await arnOf(sqs, url);
    // On AWS the topic may send to the queue only when the queue's policy says so.
    await call('sqs.SetQueueAttributes', () => sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: topicMaySend(queueArn, topic.arn) } })));
    const subscriptionArn = await topic.subscribeQueue(queueArn);
    return new SubscribedQueue(sqs, topic, new Queue(sqs, url, o.queueOptions), queueArn, subscriptionArn, now);
  }

  /** Moves the last-seen tag to now: the queue is not abandoned. */
  async touch(): Promise<void> {
    await call('sqs.TagQueue', () => this.sqs.send(new TagQueueCommand({ QueueUrl: this.queue.url, Tags: { [LAST_SEEN_TAG]: seconds(this.now()) } })));
  }

  /** Unsubscribes (so the topic stops sending) and deletes the queue. */
  async remove(): Promise<void> {
    await this.topic.unsubscribe(this.subscriptionArn);
    await deleteQueue(this.sqs, this.queue.url);
  }

  /**
   * Removes the queues subscribed to the topic whose names start with `prefix`
   * (but `keepArn`) and whose last-seen tag is older than
   * `abandonedAfterSeconds` (or missing): the subscription, then the queue. A
   * subscription whose queue is gone is removed too. Found through the topic's
   * subscriptions, so that the caller needs no account-wide ListQueues. Returns
   * the queue ARNs removed. One queue's failure does not stop the others'; the
   * first is rethrown at the end.
   */
  static async sweep(
    sqs: SQSClient,
    topic: Topic,
    o: { prefix: string; abandonedAfterSeconds: number; keepArn?: string; now?: () => number },
  ): Promise<string[]> {
    const cutoff = (o.now ?? Date.now)() / 1000 - o.abandonedAfterSeconds;
    const removed: string[] = [];
    let failure: unknown;
    for (const s of await topic.subscriptions()) {
      const name = /^arn:[^:]+:sqs:[^:]+:\d+:([A-Za-z0-9_-]+)$/.exec(s.endpoint)?.[1];
      if (!name?.startsWith(o.prefix) || s.endpoint === o.keepArn) continue;
      try {
        const url = await urlOf(sqs, name);
        if (url) {
          const tags = await call('sqs.ListQueueTags', () => sqs.send(new ListQueueTagsCommand({ QueueUrl: url })));
          if (Number(tags.Tags?.[LAST_SEEN_TAG] ?? 0) >= cutoff) continue;
        }
        await topic.unsubscribe(s.arn);
        if (url) await deleteQueue(sqs, url);
        removed.push(s.endpoint);
      } catch (err) {
        // Deleted meanwhile (by its owner, or another sweep): nothing left to do.
        if (!(err instanceof NotFoundError)) failure ??= err;
      }
    }
    if (failure) throw failure;
    return removed;
  }
}

/**
 * Creates the queue, or finds it again under its name: CreateQueue refuses a name already
 * taken with other attributes or tags (the local edge, for a last-seen tag of another
 * second), and an owner meets its own queue so after a restart under the same name, or
 * when the answer to its first CreateQueue was lost and it asks again. The queue found
 * is given this owner's attributes and tags.
 */
async function createOrFind(sqs: SQSClient, name: string, o: { attributes: Record<string, string>; tags: Record<string, string> }): Promise<string> {
  try {
    const created = await call('sqs.CreateQueue', () => sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: o.attributes, tags: o.tags })));
    if (!created.QueueUrl) throw new Error(`sqs.CreateQueue: no QueueUrl for ${name}`);
    return created.QueueUrl;
  } catch (err) {
    if (!nameTaken(err)) throw err;
    const url = await urlOf(sqs, name);
    if (!url) throw err; // deleted meanwhile: the caller tries again
    await call('sqs.SetQueueAttributes', () => sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: o.attributes })));
    await call('sqs.TagQueue', () => sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: o.tags })));
    return url;
  }
}

/** CreateQueue's refusal of a name an existing queue has (QueueNameExists; code QueueAlreadyExists). */
function nameTaken(err: unknown): boolean {
  if (!(err instanceof RequestRejectedError)) return false;
  const cause = err.cause as { name?: string; Code?: string } | undefined;
  return cause?.name === 'QueueNameExists' || cause?.Code === 'QueueAlreadyExists';
}

/** The queue's URL, or undefined when there is no such queue. */
async function urlOf(sqs: SQSClient, name: string): Promise<string | undefined> {
  try {
    return (await call('sqs.GetQueueUrl', () => sqs.send(new GetQueueUrlCommand({ QueueName: name })))).QueueUrl;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

async function arnOf(sqs: SQSClient, url: string): Promise<string> {
  const attrs = await call('sqs.GetQueueAttributes', () => sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })));
  const arn = attrs.Attributes?.QueueArn;
  if (!arn) throw new Error(`sqs.GetQueueAttributes: no QueueArn for ${url}`);
  return arn;
}

async function deleteQueue(sqs: SQSClient, url: string): Promise<void> {
  try {
    await call('sqs.DeleteQueue', () => sqs.send(new DeleteQueueCommand({ QueueUrl: url })));
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

/** The queue policy: the topic (and nothing else through this statement) may send to the queue; TLS only, as the stack's queues. */
function topicMaySend(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'TopicMaySend',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
      {
        Sid: 'TlsOnly',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:*',
        Resource: queueArn,
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  });
}
