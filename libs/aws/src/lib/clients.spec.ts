import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import { requestHandler } from './clients';
import { UnreachableError } from './errors';
import { Queue } from './queue';

describe('requestHandler', () => {
  let server: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();
  let requests = 0;

  beforeAll(async () => {
    // Takes every request and never answers (a hung endpoint).
    server = createServer(() => void requests++);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('fails a request the server never answers once its request timeout is up, instead of waiting for ever', async () => {
    const sqs = new SQSClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
      requestHandler: requestHandler({ requestMs: 300 }),
    });
    try {
      const queue = new Queue(sqs, `${endpoint}/000000000000/hung`);
      const started = Date.now();
      const outcome = await queue.send('hello').then(
        () => 'answered',
        (err: unknown) => err,
      );
      expect(outcome).toBeInstanceOf(UnreachableError);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(requests).toBe(1); // it did reach the server: the timeout, not a refused connection, ended it
    } finally {
      sqs.destroy();
    }
  }, 10_000);
});
