import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { createRequestHandler } from 'local-aws-sqs';
import { serveGroupsFairly } from './fair-groups';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from './local-aws';

/**
 * The edge's standard queues serve message groups (tenants) fairly, as SQS fair
 * queues do: through the real SDK against the embedded edge.
 */
describe('fair message groups on the local edge', () => {
  let aws: LocalAws;
  let sqs: SQSClient;
  let queues = 0;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    sqs = new SQSClient({ region: aws.env['AWS_REGION'], endpoint: aws.endpoint, credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    sqs?.destroy();
    await aws?.stop();
  });

  /** A fresh standard queue per test, so that no other test's messages are in flight. */
  const newQueue = async () =>
    (await sqs.send(new CreateQueueCommand({ QueueName: `fair-${++queues}`, Attributes: { VisibilityTimeout: '30' } }))).QueueUrl as string;
  const send = async (url: string, body: string, group?: string) =>
    sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, ...(group ? { MessageGroupId: group } : {}) }));
  const sendMany = async (url: string, group: string, count: number) => {
    for (let i = 0; i < count; i += 10) {
      const ids = Array.from({ length: Math.min(10, count - i) }, (_, k) => i + k);
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: ids.map((n) => ({ Id: `m${n}`, MessageBody: `${group}${n}`, MessageGroupId: group })) }));
    }
  };
  const receive = async (url: string, max = 1): Promise<Message[]> =>
    (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: max, AttributeNames: ['All'] }))).Messages ?? [];
  const bodies = (ms: Message[]) => ms.map((m) => m.Body);

  it("serves another tenant's first message next, not behind a tenant's backlog", async () => {
    const url = await newQueue();
    await sendMany(url, 'A', 30);
    await send(url, 'B0', 'B');

    // Without fair groups, B0 would be the 31st message out.
    expect(bodies(await receive(url, 10))).toEqual(['B0', 'A0', 'A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'A8']);
    // B's next message, sent behind A's remaining 21, still goes first.
    await send(url, 'B1', 'B');
    expect(bodies(await receive(url, 3))).toEqual(['B1', 'A9', 'A10']);
  });

  it('gives each receive to the group with the fewest messages outstanding (waiting or in flight), oldest first within a group', async () => {
    const url = await newQueue();
    await sendMany(url, 'A', 3);
    await sendMany(url, 'B', 3);

    const [a0] = await receive(url); // a tie (3 each): the oldest waiting message
    const [a1] = await receive(url); // still 3 each: A's head is older
    expect(bodies([a0, a1])).toEqual(['A0', 'A1']);

    // A's two finish: A has one outstanding, B three, so A's last goes before B's first.
    for (const m of [a0, a1]) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    expect(bodies(await receive(url))).toEqual(['A2']);
    expect(bodies(await receive(url, 3))).toEqual(['B0', 'B1', 'B2']);
    expect(await receive(url)).toEqual([]);
  });

  it('counts messages in flight as outstanding: a tenant holding many is served after one with a few waiting', async () => {
    const url = await newQueue();
    await sendMany(url, 'A', 4);
    const held = await receive(url, 4); // A: 4 in flight, none waiting
    await sendMany(url, 'C', 2);
    await sendMany(url, 'A', 1); // A: 5 outstanding, C: 2
    expect(bodies(held)).toEqual(['A0', 'A1', 'A2', 'A3']);
    expect(bodies(await receive(url, 3))).toEqual(['C0', 'C1', 'A0']);
  });

  it('counts each message without a MessageGroupId as a tenant of its own', async () => {
    const url = await newQueue();
    await sendMany(url, 'A', 5);
    await send(url, 'lone');
    await send(url, 'alone too');

    expect(bodies(await receive(url, 3))).toEqual(['lone', 'alone too', 'A0']);
  });

  it('keeps the emulator\'s visibility: a released message comes back, its receives counted', async () => {
    const url = await newQueue();
    await send(url, 'A0', 'A');
    const [first] = await receive(url);
    expect(await receive(url)).toEqual([]); // hidden while in flight

    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }));
    const [again] = await receive(url);
    expect(again).toMatchObject({ Body: 'A0', MessageId: first.MessageId, Attributes: expect.objectContaining({ MessageGroupId: 'A' }) });
    // The receive, the release (local-aws-sqs counts ChangeMessageVisibility as a receive) and this receive.
    expect(again.Attributes?.ApproximateReceiveCount).toBe('3');
    expect(again.ReceiptHandle).not.toBe(first.ReceiptHandle);

    // The newest receipt handle deletes it for good.
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: again.ReceiptHandle }));
    expect(await receive(url)).toEqual([]);
  });

  it('answers a long poll once it has messages, fewer than asked for, as SQS does', async () => {
    const url = await newQueue();
    await send(url, 'A0', 'A');
    await send(url, 'B0', 'B');
    const started = Date.now();
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 20 }));
    expect(bodies(got.Messages ?? []).sort()).toEqual(['A0', 'B0']);
    // Not the 20 s wait: the emulator alone held a poll open until it had all ten.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('serves the launch queue fairly too (the edge applies it to the queues it creates)', async () => {
    await sendMany(aws.queues.launch, 'tenant-a', 12);
    await send(aws.queues.launch, 'tenant-b first', 'tenant-b');
    const got = bodies(await receive(aws.queues.launch, 3));
    expect(got).toEqual(['tenant-b first', 'tenant-a0', 'tenant-a1']);
  });
});

describe('a long poll on a fair queue', () => {
  /** Timers that keep this process alive. */
  const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('serves a message sent without delay at once, before the emulator\'s own 0 ms delay timer has run', async () => {
    // local-aws-sqs marks every new message delayed until a setTimeout of its delay fires, 0 s included:
    // a receive handled before that timer (a busy machine, a fast client) saw the busy tenant's old
    // messages only, and served one of them ahead of the quiet tenant's.
    const emulator = createRequestHandler({ port: 0, hostname: '127.0.0.1', region: 'us-east-1', accountId: '000000000000', queues: [{ QueueName: 'just-sent' }] });
    serveGroupsFairly(emulator.service);
    type Queue = { setRecord(msg: Record<string, unknown>): unknown; receive(request: { WaitTimeSeconds: number; MaxNumberOfMessages: number }): Promise<{ MessageBody: string }[]> };
    const [queue] = emulator.service.Queues as Queue[];
    for (const body of ['busy0', 'busy1', 'busy2']) queue.setRecord({ MessageBody: body, MessageGroupId: 'busy' });
    await new Promise((r) => setTimeout(r, 5)); // the busy tenant's are past their delay
    queue.setRecord({ MessageBody: 'quiet0', MessageGroupId: 'quiet' });
    const [first] = await queue.receive({ WaitTimeSeconds: 0, MaxNumberOfMessages: 1 });
    expect(first.MessageBody).toBe('quiet0');
  });

  it("does not keep the process alive while it waits, as the emulator's own long poll does not", async () => {
    // A poll whose client is gone waits out its WaitTimeSeconds on the edge: with a ref'd timer,
    // a process that stopped its edge stayed up until then (a Jest run, 19 s after its tests).
    const emulator = createRequestHandler({ port: 0, hostname: '127.0.0.1', region: 'us-east-1', accountId: '000000000000', queues: [{ QueueName: 'idle' }] });
    serveGroupsFairly(emulator.service);
    const [queue] = emulator.service.Queues as { receive(request: { WaitTimeSeconds: number }): Promise<unknown[]> }[];
    const before = refTimers();
    const waiting = queue.receive({ WaitTimeSeconds: 0.2 });
    expect(refTimers()).toBe(before);
    await expect(waiting).resolves.toEqual([]);
  });
});
