import { EventEmitter, once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createRequestHandler } from 'local-aws-sqs';
import { releaseAbandonedReceives } from './abandoned-receives';
import { LOCAL_CREDENTIALS } from './local-aws';

const ACCOUNT_ID = '000000000000';
const QUEUE = 'abandoned';

/**
 * A long poll whose client died (a SIGKILLed worker) must not swallow the next
 * message for a whole visibility timeout: real SQS never hands a message to a
 * closed connection, and local-aws-sqs does unless the edge gives it back.
 *
 * The emulator behind the wrapper is served here as the edge serves it, with the
 * server's own view of each request (body read, connection closed) reported, so
 * that the test steps in when the server has seen each step, not after a guess.
 */
describe('a long poll abandoned by its client', () => {
  let server: Server;
  let endpoint: string;
  let sqs: SQSClient;
  /** `read <x-amz-target>` once a request's body is in; `closed <x-amz-target>` (answered?) when its connection is done. */
  const seen = new EventEmitter();

  beforeAll(async () => {
    const handler: { serve?: ReturnType<typeof releaseAbandonedReceives> } = {};
    server = createServer((req, res) => {
      const target = String(req.headers['x-amz-target']);
      req.once('end', () => seen.emit(`read ${target}`));
      res.once('close', () => seen.emit(`closed ${target}`, res.writableEnded));
      void handler.serve?.(req, res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    endpoint = `http://127.0.0.1:${port}`;
    handler.serve = releaseAbandonedReceives(
      createRequestHandler({
        port,
        hostname: '127.0.0.1',
        region: 'us-east-1',
        accountId: ACCOUNT_ID,
        emulateQueueCreationLifecycle: false,
        queues: [{ QueueName: QUEUE, Attributes: { VisibilityTimeout: 30 } }],
      }).requestHandler,
      () => endpoint,
      ACCOUNT_ID,
    );
    sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    sqs?.destroy();
    server?.closeAllConnections();
    if (server?.listening) await new Promise((resolve) => server.close(resolve));
  });

  it('gives the message the dead poll took back at once: a live poller receives it long before the 30 s visibility timeout', async () => {
    const queueUrl = `${endpoint}/${ACCOUNT_ID}/${QUEUE}`;
    // A raw long poll on the empty queue, whose client then dies (socket destroyed, as by SIGKILL).
    const dying = request(endpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'AmazonSQS.ReceiveMessage', 'content-type': 'application/x-amz-json-1.0' },
    });
    dying.on('error', () => undefined);
    const pollRead = once(seen, 'read AmazonSQS.ReceiveMessage');
    dying.end(JSON.stringify({ QueueUrl: queueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 1 }));
    await pollRead; // the emulator now holds the poll, waiting for a message
    const pollClosed = once(seen, 'closed AmazonSQS.ReceiveMessage');
    dying.destroy();
    expect(await pollClosed).toEqual([false]); // the server saw the client leave before any answer

    // The next message goes to the dead poll first (the emulator still serves it)...
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'for a live worker' }));

    // ...and a live long poll gets it as soon as it is given back, not after the visibility timeout.
    const t0 = Date.now();
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 1, AttributeNames: ['All'] }));
    const [message] = out.Messages ?? [];
    expect(message?.Body).toBe('for a live worker');
    // The dead poll's receive, the give-back (local-aws-sqs counts ChangeMessageVisibility as a receive) and this one:
    // the dead poll did take it, so this shows the give-back, not a message that went past the dead poll.
    expect(message?.Attributes?.ApproximateReceiveCount).toBe('3');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
