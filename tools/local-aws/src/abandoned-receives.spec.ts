import { request } from 'node:http';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from './local-aws';

/**
 * A long poll whose client died (a SIGKILLed worker) must not swallow the next
 * message for a whole visibility timeout: real SQS never hands a message to a
 * closed connection, and local-aws-sqs does unless the edge gives it back.
 */
describe('a long poll abandoned by its client', () => {
  let aws: LocalAws;
  let sqs: SQSClient;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    sqs = new SQSClient({ region: 'us-east-1', endpoint: aws.endpoint, credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    sqs?.destroy();
    await aws?.stop();
  });

  it('gives the message it took back at once, so a live poller receives it within a second or two', async () => {
    const queueUrl = aws.queues.output;
    // A raw long poll on the empty queue, whose client then dies (socket destroyed, as by SIGKILL).
    const dying = request(aws.endpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'AmazonSQS.ReceiveMessage', 'content-type': 'application/x-amz-json-1.0' },
    });
    dying.on('error', () => undefined);
    dying.end(JSON.stringify({ QueueUrl: queueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 1 }));
    await new Promise((r) => setTimeout(r, 300));
    dying.destroy();
    await new Promise((r) => setTimeout(r, 100));

    // The next message goes to the dead poll first (the emulator still serves it)...
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'for a live worker' }));
    await new Promise((r) => setTimeout(r, 500));

    // ...and must be receivable again long before the queue's 30 s visibility timeout.
    const t0 = Date.now();
    let body: string | undefined;
    while (!body && Date.now() - t0 < 8000) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 1 }));
      body = out.Messages?.[0]?.Body;
    }
    expect(body).toBe('for a live worker');
    expect(Date.now() - t0).toBeLessThan(8000);
  }, 30_000);
});
