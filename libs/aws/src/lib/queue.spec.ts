import { SQSClient, ReceiveMessageCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { loadConfig } from '@app/config';
import { startLocalAws, LOCAL_CREDENTIALS, type LocalAws } from '@tools/local-aws';
import { AwsClients } from './clients';
import { NotFoundError, UnreachableError } from './errors';
import { Queue } from './queue';
import { nextLongPoll } from '../../test/sqs-test-hooks';

describe('Queue against the embedded SQS', () => {
  let aws: LocalAws;
  let clients: AwsClients;
  let prefixCounter = 0;

  beforeAll(async () => {
    // A short visibility timeout and two receives before dead-lettering keep the redelivery tests quick.
    aws = await startLocalAws({ port: 0, launchVisibilitySeconds: 1, maxReceiveCount: 2 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
    clients = new AwsClients(loadConfig(aws.env));
  });
  afterAll(async () => {
    clients.destroy();
    await aws.stop();
  });

  /** A queue no other test touches (PurgeQueue takes ~60 s on the emulator, so tests never share one). */
  async function freshQueue(attributes: Record<string, string> = {}): Promise<Queue> {
    const { CreateQueueCommand } = await import('@aws-sdk/client-sqs');
    const out = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: `t${++prefixCounter}-${Date.now()}`, Attributes: attributes }),
    );
    return new Queue(clients.sqs, out.QueueUrl ?? '', { visibleCountIncludesInFlight: true });
  }

  it('sends, receives and deletes one message', async () => {
    const q = await freshQueue();
    const id = await q.send('{"hello":1}');
    const [m] = await q.receive({ maxMessages: 10, waitSeconds: 1 });
    expect(m).toMatchObject({ messageId: id, body: '{"hello":1}', receiveCount: 1 });
    expect(m.sentAt).toBeInstanceOf(Date);
    await q.delete(m.receiptHandle);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('returns from a long poll as soon as a message arrives, even when asking for ten', async () => {
    const q = await freshQueue();
    const polling = nextLongPoll(clients.sqs);
    const pending = q.receive({ maxMessages: 10, waitSeconds: 10 });
    // The queue is empty: after a short poll for ten comes a long poll; the message is sent once it is out.
    await polling;
    const sentAt = Date.now();
    await q.send('late');
    const got = await pending;
    expect(got.map((m) => m.body)).toEqual(['late']);
    expect(Date.now() - sentAt).toBeLessThan(3000);
  });

  it('redelivers after the visibility timeout with the receive count', async () => {
    const q = await freshQueue({ VisibilityTimeout: '1' });
    await q.send('again');
    const [first] = await q.receive({ waitSeconds: 1 });
    expect(first.receiveCount).toBe(1);
    expect(await q.receive()).toEqual([]); // hidden while in flight
    const [second] = await q.receive({ waitSeconds: 3 });
    expect(second).toMatchObject({ messageId: first.messageId, body: 'again', receiveCount: 2 });
  });

  // Only the older AttributeNames gets ApproximateReceiveCount from the emulator.
  it('quirk: the receive count comes back only when asked with AttributeNames', async () => {
    const q = await freshQueue();
    await q.send('x');
    const out = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: q.url, MessageSystemAttributeNames: ['ApproximateReceiveCount'], VisibilityTimeout: 0 }),
    );
    expect(out.Messages?.[0].Attributes?.ApproximateReceiveCount).toBeUndefined();
    const [m] = await q.receive();
    expect(m.receiveCount).toBe(2);
  });

  it('dead-letters the launch queue message after the maximum receives', async () => {
    const launch = new Queue(clients.sqs, aws.queues.launch);
    const dlq = new Queue(clients.sqs, aws.queues.launchDeadLetter);
    await launch.send('poison');
    for (let i = 1; i <= 2; i++) {
      const [m] = await launch.receive({ waitSeconds: 3 });
      expect(m).toMatchObject({ body: 'poison', receiveCount: i });
    }
    // Once its 1 s visibility timeout ends, the next receive finds it gone from the launch queue: moved to the DLQ.
    const [dead] = await dlq.receive({ waitSeconds: 5 });
    expect(dead.body).toBe('poison');
    expect(await launch.receive()).toEqual([]);
  });

  it('sends and deletes batches beyond ten in chunks of ten', async () => {
    const q = await freshQueue();
    const entries = Array.from({ length: 25 }, (_, i) => ({ id: `m${i}`, body: `body-${i}` }));
    expect(await q.sendBatch(entries)).toEqual([]);
    expect(await q.depth()).toEqual({ visible: 25, inFlight: 0, delayed: 0 });
    const got: string[] = [];
    const handles: string[] = [];
    while (got.length < 25) {
      const batch = await q.receive({ maxMessages: 10, waitSeconds: 1 });
      got.push(...batch.map((m) => m.body));
      handles.push(...batch.map((m) => m.receiptHandle));
    }
    expect(got.sort()).toEqual(entries.map((e) => e.body).sort());
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 25, delayed: 0 });
    expect(await q.deleteBatch(handles)).toEqual([]);
    expect(await q.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('reports the entries SQS refused in a batch', async () => {
    const q = await freshQueue();
    const failures = await q.deleteBatch(['not-a-receipt-handle']);
    expect(failures).toHaveLength(1);
    expect(failures[0].id).toBe('not-a-receipt-handle');
  });

  // ApproximateNumberOfMessages includes in-flight messages on the emulator;
  // the local stack sets SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT and depth() corrects it.
  it('quirk: depth() corrects the emulator visible count, delayed counted apart', async () => {
    const q = await freshQueue();
    await q.sendBatch([
      { id: 'a', body: 'a' },
      { id: 'b', body: 'b' },
      { id: 'c', body: 'c', delaySeconds: 30 },
    ]);
    await q.receive({ maxMessages: 1 });
    const raw = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    expect(raw.Attributes?.ApproximateNumberOfMessages).toBe('2');
    expect(await q.depth()).toEqual({ visible: 1, inFlight: 1, delayed: 1 });
  });

  it('changes visibility: 0 makes a message receivable at once', async () => {
    const q = await freshQueue({ VisibilityTimeout: '30' });
    await q.send('v');
    const [m] = await q.receive();
    await q.changeVisibility(m.receiptHandle, 0);
    const [again] = await q.receive();
    expect(again.body).toBe('v');
    // Emulator quirk: ChangeMessageVisibility counted as a receive (real SQS would say 2).
    expect(again.receiveCount).toBe(3);
  });

  it('maps a missing queue to NotFoundError and a dead endpoint to UnreachableError', async () => {
    const missing = new Queue(clients.sqs, `${aws.endpoint}/000000000000/no-such-queue`);
    await expect(missing.send('x')).rejects.toBeInstanceOf(NotFoundError);
    const dead = new SQSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', maxAttempts: 1 });
    await expect(new Queue(dead, 'http://127.0.0.1:1/000000000000/q').send('x')).rejects.toBeInstanceOf(UnreachableError);
    dead.destroy();
  });

  // A long poll the client aborted goes on at the emulator until its wait ends and takes the
  // next message (real SQS may too): that message is back only after its visibility timeout.
  // So a consumer's stop() may hide one message for a while; tests wait out the poll.
  it('quirk worked around: an aborted long poll takes the next message on the emulator, and the edge gives it back at once', async () => {
    const q = await freshQueue({ VisibilityTimeout: '30' });
    const ac = new AbortController();
    const polling = nextLongPoll(clients.sqs);
    const poll = q.receive({ waitSeconds: 2, abortSignal: ac.signal }).catch(() => 'aborted');
    await polling;
    // A request answered after the poll left the client: by then the edge has the poll.
    await q.depth();
    ac.abort();
    expect(await poll).toBe('aborted');
    const sentAt = Date.now();
    await q.send('not swallowed');
    // Without the edge's release it would stay in flight for the 30 s visibility timeout.
    const got = await q.receive({ waitSeconds: 10 });
    expect(got.map((m) => m.body)).toEqual(['not swallowed']);
    expect(Date.now() - sentAt).toBeLessThan(5000);
  });

  it('stops a long poll when its abort signal fires', async () => {
    const q = await freshQueue();
    const ac = new AbortController();
    const polling = nextLongPoll(clients.sqs);
    const started = Date.now();
    const poll = q.receive({ waitSeconds: 10, abortSignal: ac.signal });
    await polling;
    ac.abort();
    await expect(poll).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
