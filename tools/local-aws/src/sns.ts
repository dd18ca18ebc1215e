import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient, type MessageAttributeValue } from '@aws-sdk/client-sqs';

/**
 * A test double for Amazon SNS (no SNS emulator installs offline): the Query
 * API that `@aws-sdk/client-sns` speaks — CreateTopic, DeleteTopic, ListTopics,
 * Subscribe (protocol `sqs`), Unsubscribe, ListSubscriptionsByTopic, Publish
 * and PublishBatch — served on the local edge, delivering every message to
 * each subscribed queue of the same edge through SQS's own API. As on SNS: a
 * subscription with `RawMessageDelivery=true` gets the message body as it was
 * published (message attributes become SQS message attributes); without it,
 * SNS's JSON envelope (`Type: Notification`, `MessageId`, `TopicArn`,
 * `Message`, ...). Deliveries are made before Publish answers, so a published
 * message is in every subscribed queue once the caller hears 200 (SNS gives
 * no such promise; it only makes tests simpler, never wrong).
 */
export class LocalSns {
  private readonly topics = new Map<string, Map<string, Subscription>>();
  private readonly queueUrls = new Map<string, string>();

  constructor(
    private readonly options: { region: string; accountId: string; sqs: SQSClient },
  ) {}

  /** True when the request is signed for SNS (its SigV4 credential scope names the service). */
  static isSnsRequest(req: IncomingMessage): boolean {
    const auth = req.headers['authorization'];
    return typeof auth === 'string' && /Credential=[^/]+\/\d{8}\/[^/]+\/sns\/aws4_request/.test(auth);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = new URLSearchParams(await readBody(req));
    const action = params.get('Action') ?? '';
    try {
      const result = await this.dispatch(action, params);
      reply(res, 200, `<${action}Response xmlns="${NS}">${result === undefined ? '' : `<${action}Result>${result}</${action}Result>`}${metadata()}</${action}Response>`);
    } catch (err) {
      const e = err instanceof SnsError ? err : new SnsError(500, 'InternalError', (err as Error).message);
      reply(res, e.status, `<ErrorResponse xmlns="${NS}"><Error><Type>${e.status < 500 ? 'Sender' : 'Receiver'}</Type><Code>${e.code}</Code><Message>${xml(e.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
    }
  }

  private async dispatch(action: string, p: URLSearchParams): Promise<string | undefined> {
    switch (action) {
      case 'CreateTopic': {
        const name = required(p, 'Name');
        if (!/^[A-Za-z0-9_-]{1,256}$/.test(name)) throw new SnsError(400, 'InvalidParameter', 'Invalid parameter: Topic Name');
        const topicArn = `arn:aws:sns:${this.options.region}:${this.options.accountId}:${name}`;
        if (!this.topics.has(topicArn)) this.topics.set(topicArn, new Map());
        return `<TopicArn>${xml(topicArn)}</TopicArn>`;
      }
      case 'DeleteTopic':
        this.topics.delete(required(p, 'TopicArn'));
        return undefined;
      case 'ListTopics':
        return `<Topics>${[...this.topics.keys()].map((arn) => `<member><TopicArn>${xml(arn)}</TopicArn></member>`).join('')}</Topics>`;
      case 'Subscribe': {
        const topicArn = required(p, 'TopicArn');
        const subscriptions = this.topic(topicArn);
        const protocol = required(p, 'Protocol');
        if (protocol !== 'sqs') throw new SnsError(400, 'InvalidParameter', `Invalid parameter: Protocol (this stand-in delivers to sqs only, not ${protocol})`);
        const endpoint = required(p, 'Endpoint');
        const queueName = /^arn:aws:sqs:[^:]+:\d+:([A-Za-z0-9_-]+)$/.exec(endpoint)?.[1];
        if (!queueName) throw new SnsError(400, 'InvalidParameter', 'Invalid parameter: SQS endpoint ARN');
        const raw = entries(p, 'Attributes').get('RawMessageDelivery') === 'true';
        // As on SNS, subscribing the same endpoint again returns the existing subscription.
        const existing = [...subscriptions.values()].find((s) => s.endpoint === endpoint);
        if (existing) return `<SubscriptionArn>${xml(existing.arn)}</SubscriptionArn>`;
        const arn = `${topicArn}:${randomUUID()}`;
        subscriptions.set(arn, { arn, endpoint, queueName, raw });
        return `<SubscriptionArn>${xml(arn)}</SubscriptionArn>`;
      }
      case 'Unsubscribe': {
        const arn = required(p, 'SubscriptionArn');
        for (const subscriptions of this.topics.values()) subscriptions.delete(arn);
        return undefined;
      }
      case 'ListSubscriptionsByTopic': {
        const topicArn = required(p, 'TopicArn');
        const members = [...this.topic(topicArn).values()]
          .map((s) => `<member><SubscriptionArn>${xml(s.arn)}</SubscriptionArn><Protocol>sqs</Protocol><Endpoint>${xml(s.endpoint)}</Endpoint><TopicArn>${xml(topicArn)}</TopicArn><Owner>${this.options.accountId}</Owner></member>`)
          .join('');
        return `<Subscriptions>${members}</Subscriptions>`;
      }
      case 'Publish': {
        const topicArn = required(p, 'TopicArn');
        const message = required(p, 'Message');
        const messageId = await this.publish(topicArn, message, messageAttributes(p, 'MessageAttributes'), p.get('MessageGroupId') ?? undefined);
        return `<MessageId>${messageId}</MessageId>`;
      }
      case 'PublishBatch': {
        const topicArn = required(p, 'TopicArn');
        this.topic(topicArn);
        const batch = members(p, 'PublishBatchRequestEntries');
        if (batch.length === 0) throw new SnsError(400, 'EmptyBatchRequest', 'The batch request does not contain any entries');
        if (batch.length > 10) throw new SnsError(400, 'TooManyEntriesInBatchRequest', 'The batch request contains more entries than permissible');
        const successful: string[] = [];
        const failed: string[] = [];
        // Entries are delivered at once, not one after the other (SNS keeps no order on a standard topic either).
        const delivered = await Promise.all(
          batch.map(async (entry) => {
            const message = entry.get('Message');
            return message === undefined ? undefined : this.publish(topicArn, message, messageAttributesOf(entry, 'MessageAttributes'), entry.get('MessageGroupId'));
          }),
        );
        batch.forEach((entry, i) => {
          const id = entry.get('Id') ?? '';
          const messageId = delivered[i];
          if (messageId === undefined) {
            failed.push(`<member><Id>${xml(id)}</Id><Code>InvalidParameter</Code><Message>Message is required</Message><SenderFault>true</SenderFault></member>`);
          } else successful.push(`<member><Id>${xml(id)}</Id><MessageId>${messageId}</MessageId></member>`);
        });
        return `<Successful>${successful.join('')}</Successful><Failed>${failed.join('')}</Failed>`;
      }
      default:
        throw new SnsError(400, 'InvalidAction', `The action ${action || '(none)'} is not valid for this endpoint.`);
    }
  }

  private topic(topicArn: string): Map<string, Subscription> {
    const subscriptions = this.topics.get(topicArn);
    if (!subscriptions) throw new SnsError(404, 'NotFound', 'Topic does not exist');
    return subscriptions;
  }

  /**
   * Delivers to every subscribed queue. A standard topic forwards a message's
   * MessageGroupId to SQS standard queues (it makes them fair queues) and to
   * no other kind of subscription.
   */
  private async publish(topicArn: string, message: string, attributes: Record<string, MessageAttributeValue>, messageGroupId?: string): Promise<string> {
    const messageId = randomUUID();
    const subscriptions = [...this.topic(topicArn).values()];
    await Promise.all(
      subscriptions.map(async (s) => {
        const queueUrl = await this.queueUrl(s.queueName);
        if (!queueUrl) return; // a deleted queue: SNS drops the delivery too
        const body = s.raw
          ? message
          : JSON.stringify({
              Type: 'Notification',
              MessageId: messageId,
              TopicArn: topicArn,
              Message: message,
              Timestamp: new Date().toISOString(),
              SignatureVersion: '1',
              UnsubscribeURL: `local-edge/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(s.arn)}`,
              ...(Object.keys(attributes).length ? { MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { Type: v.DataType, Value: v.StringValue }])) } : {}),
            });
        try {
          await this.options.sqs.send(
            new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: s.raw && Object.keys(attributes).length ? attributes : undefined, MessageGroupId: messageGroupId }),
          );
        } catch (err) {
          // Deleted since its URL was looked up: dropped, as above.
          if ((err as Error).name !== 'QueueDoesNotExist') throw err;
          this.queueUrls.delete(s.queueName);
        }
      }),
    );
    return messageId;
  }

  private async queueUrl(queueName: string): Promise<string | undefined> {
    // Looked up once per queue, not once per delivery: a publish to several tiers' queues is on every result's path.
    const known = this.queueUrls.get(queueName);
    if (known) return known;
    try {
      const url = (await this.options.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl;
      if (url) this.queueUrls.set(queueName, url);
      return url;
    } catch {
      return undefined;
    }
  }
}

interface Subscription {
  arn: string;
  endpoint: string;
  queueName: string;
  raw: boolean;
}

const NS = 'http://sns.amazonaws.com/doc/2010-03-31/';

class SnsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function required(p: URLSearchParams, name: string): string {
  const v = p.get(name);
  if (v === null || v === '') throw new SnsError(400, 'InvalidParameter', `Invalid parameter: ${name} is required`);
  return v;
}

/** `Prefix.member.N.Field` lists, as the Query protocol sends them. */
function members(p: URLSearchParams, prefix: string): Map<string, string>[] {
  const out = new Map<number, Map<string, string>>();
  for (const [k, v] of p) {
    const m = new RegExp(`^${prefix}\\.member\\.(\\d+)\\.(.+)$`).exec(k);
    if (!m) continue;
    const n = Number(m[1]);
    if (!out.has(n)) out.set(n, new Map());
    out.get(n)?.set(m[2], v);
  }
  return [...out.entries()].sort(([a], [b]) => a - b).map(([, e]) => e);
}

/** `Prefix.entry.N.key` / `.value` maps. */
function entries(p: URLSearchParams, prefix: string): Map<string, string> {
  const keys = new Map<string, string>();
  const values = new Map<string, string>();
  for (const [k, v] of p) {
    const m = new RegExp(`^${prefix}\\.entry\\.(\\d+)\\.(key|value)$`).exec(k);
    if (m) (m[2] === 'key' ? keys : values).set(m[1], v);
  }
  return new Map([...keys.entries()].map(([n, key]) => [key, values.get(n) ?? '']));
}

/** `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue`. */
function messageAttributes(p: URLSearchParams, prefix: string): Record<string, MessageAttributeValue> {
  return messageAttributesOf(new Map(p), prefix);
}

function messageAttributesOf(fields: Map<string, string>, prefix: string): Record<string, MessageAttributeValue> {
  const byIndex = new Map<string, { name?: string; type?: string; value?: string }>();
  for (const [k, v] of fields) {
    const m = new RegExp(`^${prefix}\\.entry\\.(\\d+)\\.(Name|Value\\.DataType|Value\\.StringValue)$`).exec(k);
    if (!m) continue;
    const e = byIndex.get(m[1]) ?? {};
    if (m[2] === 'Name') e.name = v;
    else if (m[2] === 'Value.DataType') e.type = v;
    else e.value = v;
    byIndex.set(m[1], e);
  }
  const out: Record<string, MessageAttributeValue> = {};
  for (const e of byIndex.values()) if (e.name) out[e.name] = { DataType: e.type ?? 'String', StringValue: e.value ?? '' };
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // SNS's own limit is 256 KiB a message; ten of them in a batch, plus encoding.
      if (size > 4 * 1024 * 1024) req.destroy(new Error('request body too large'));
      else chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function metadata(): string {
  return `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>`;
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': randomUUID() });
  res.end(body);
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
