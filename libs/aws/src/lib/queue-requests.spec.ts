import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { loadConfig } from '@app/config';
import { startLocalAws, LOCAL_CREDENTIALS, type LocalAws } from '@tools/local-aws';
import { faultySqs } from '../testing/faulty-sqs';
import { AwsClients } from './clients';
import { call, NotFoundError, RetryableError } from './errors';
import { QueueRequests } from './queue-requests';

const ATTRIBUTES = { AttributeNames: ['All' as const], MessageSystemAttributeNames: ['ApproximateReceiveCount' as const, 'SentTimestamp' as const, 'MessageGroupId' as const] };

describe('QueueRequests (the SQS client parts without its command stack) against the embedded SQS', () => {
  let aws: LocalAws;
  let clients: AwsClients;
  let requests: QueueRequests;
  let made = 0;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
    clients = new AwsClients(loadConfig(aws.env));
    requests = new QueueRequests(clients.sqs);
  });
  afterAll(async () => {
    clients.destroy();
    await aws.stop();
  });

  async function freshQueue(attributes: Record<string, string> = {}): Promise<string> {
    const out = await clients.sqs.send(new CreateQueueCommand({ QueueName: `qr${++made}-${Date.now()}`, Attributes: attributes }));
    return out.QueueUrl ?? '';
  }

  it("speaks the client's protocol: what it sends the SDK's commands receive, and the other way round", async () => {
    const url = await freshQueue();
    const bodies = ['{"label":"tench"}', 'ünïcödé ✓ and "quotes"', 'x'.repeat(2000)];
    const sent = await requests.sendMessageBatch({ QueueUrl: url, Entries: bodies.map((b, i) => ({ Id: `e${i}`, MessageBody: b, MessageGroupId: 'team-a' })) });
    expect(sent.Successful?.map((s) => s.Id).sort()).toEqual(['e0', 'e1', 'e2']);
    expect(sent.Failed ?? []).toEqual([]);
    const viaSdk = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, ...ATTRIBUTES }));
    expect(viaSdk.Messages?.map((m) => m.Body).sort()).toEqual([...bodies].sort());
    await clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: (viaSdk.Messages ?? []).map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));

    await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: 'from the SDK' }] }));
    const received = await requests.receiveMessage({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, ...ATTRIBUTES });
    expect(received.Messages).toEqual([expect.objectContaining({ Body: 'from the SDK', Attributes: expect.objectContaining({ ApproximateReceiveCount: '1', SentTimestamp: expect.stringMatching(/^\d+$/) }) })]);
    const deleted = await requests.deleteMessageBatch({ QueueUrl: url, Entries: [{ Id: '0', ReceiptHandle: received.Messages?.[0].ReceiptHandle }, { Id: '1', ReceiptHandle: 'not-a-receipt-handle' }] });
    expect(deleted.Successful?.map((s) => s.Id)).toEqual(['0']);
    expect(deleted.Failed).toEqual([expect.objectContaining({ Id: '1', SenderFault: true })]);
    expect((await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))).Messages ?? []).toEqual([]);
  });

  it('names an error as the client does: a missing queue is the same NotFoundError either way', async () => {
    const missing = `${aws.env['LAUNCH_QUEUE_URL'].replace(/[^/]+$/, '')}no-such-queue-${Date.now()}`;
    const ours = (await requests.deleteMessageBatch({ QueueUrl: missing, Entries: [{ Id: '0', ReceiptHandle: 'x' }] }).catch((e: Error) => e)) as Error;
    const sdks = (await call('sqs.DeleteMessageBatch', () => clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: missing, Entries: [{ Id: '0', ReceiptHandle: 'x' }] }))).catch((e: Error) => e)) as Error;
    expect(ours).toBeInstanceOf(NotFoundError);
    expect(sdks).toBeInstanceOf(NotFoundError);
    // "sqs.DeleteMessageBatch: AWS.SimpleQueueService.NonExistentQueue": the same operation and code.
    expect(ours.message.split(':').slice(0, 2)).toEqual(sdks.message.split(':').slice(0, 2));
    expect(ours.message).toMatch(/NonExistentQueue|QueueDoesNotExist/);
  });

  it("retries what the client retries (a 500, throttling) with its strategy, then answers", async () => {
    const url = await freshQueue();
    let failing = 2;
    const double = await faultySqs(aws.endpoint, LOCAL_CREDENTIALS, (action) =>
      action === 'SendMessageBatch' && failing-- > 0
        ? { fault: failing === 0 ? { status: 400, type: 'RequestThrottled', queryCode: 'AWS.SimpleQueueService.RequestThrottled' } : { status: 500, type: 'InternalError' } }
        : undefined,
    );
    try {
      const out = await new QueueRequests(double.sqs).sendMessageBatch({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: 'after a 500 and a throttle' }] });
      expect(out.Successful?.map((s) => s.Id)).toEqual(['a']);
      expect(double.interventions()).toBe(2);
      const got = await requests.receiveMessage({ QueueUrl: url, WaitTimeSeconds: 1 });
      expect(got.Messages?.map((m) => m.Body)).toEqual(['after a 500 and a throttle']);

      failing = 1000;
      await expect(new QueueRequests(double.sqs).sendMessageBatch({ QueueUrl: url, Entries: [{ Id: 'b', MessageBody: 'never' }] })).rejects.toBeInstanceOf(RetryableError);
    } finally {
      await double.stop();
    }
  });

  it('refuses, as retryable, bodies whose MD5 does not match: sent, or received (the message stays in the queue)', async () => {
    const url = await freshQueue({ VisibilityTimeout: '1' });
    const wrongMd5 = (entry: Record<string, unknown>, field: string) => ({ ...entry, [field]: '0'.repeat(32) });
    const double = await faultySqs(aws.endpoint, LOCAL_CREDENTIALS, (action) =>
      action === 'SendMessageBatch'
        ? { rewrite: (a) => ({ ...a, Successful: (a['Successful'] as Record<string, unknown>[]).map((e) => wrongMd5(e, 'MD5OfMessageBody')) }) }
        : action === 'ReceiveMessage'
          ? { rewrite: (a) => ({ ...a, Messages: ((a['Messages'] ?? []) as Record<string, unknown>[]).map((m) => wrongMd5(m, 'MD5OfBody')) }) }
          : undefined,
    );
    try {
      const doubled = new QueueRequests(double.sqs);
      await expect(doubled.sendMessageBatch({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: 'changed on the way back' }] })).rejects.toThrow(RetryableError);
      await expect(doubled.receiveMessage({ QueueUrl: url, WaitTimeSeconds: 1 })).rejects.toThrow(/MD5 of 1 message bodies do not match/);
      // Nothing lost: the refused receive deleted nothing, and the message comes back once its visibility timeout ends.
      const again = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 5, ...ATTRIBUTES }));
      expect(again.Messages).toEqual([expect.objectContaining({ Body: 'changed on the way back', Attributes: expect.objectContaining({ ApproximateReceiveCount: '2' }) })]);
    } finally {
      await double.stop();
    }
  });
});
