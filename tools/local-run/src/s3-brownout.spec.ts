import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { signedService, startS3Brownout, type S3Brownout } from './s3-brownout';

/** Stands in for the edge: answers every request with what it was (service by its signature, method, body length). */
async function startEdge(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (b: Buffer) => (bytes += b.length));
    req.on('end', () => {
      seen.push(`${signedService(req)} ${req.method} ${req.url} ${bytes}`);
      res.end('from the edge');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const signed = (service: string) => `AWS4-HMAC-SHA256 Credential=S3RVER/20261202/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00`;

describe('S3 brownout on the local edge', () => {
  let edge: Awaited<ReturnType<typeof startEdge>>;
  let brownout: S3Brownout;
  let s3: S3Client;

  beforeAll(async () => {
    edge = await startEdge();
    brownout = await startS3Brownout(edge.url);
    // The real SDK, one attempt: what it makes of the answer, not how it retries.
    s3 = new S3Client({ endpoint: brownout.endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  });

  afterAll(async () => {
    s3?.destroy();
    await brownout?.stop();
    await new Promise((r) => edge?.server.close(r));
  });

  it('tells the services apart by their signature', () => {
    expect(signedService({ headers: { authorization: signed('s3') }, url: '/b/k' })).toBe('s3');
    expect(signedService({ headers: { authorization: signed('sqs') }, url: '/' })).toBe('sqs');
    expect(signedService({ headers: {}, url: '/b/k?X-Amz-Credential=S3RVER%2F20261202%2Fus-east-1%2Fs3%2Faws4_request' })).toBe('s3');
    expect(signedService({ headers: {}, url: '/' })).toBeUndefined();
  });

  it('passes S3 to the edge until the brownout begins', async () => {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'ics-output', Key: 'a.json' }));
    expect(await got.Body?.transformToString()).toBe('from the edge');
    expect(edge.seen.at(-1)).toBe('s3 GET /ics-output/a.json?x-id=GetObject 0');
  });

  it('answers every S3 request 503 SlowDown during the brownout, after reading its body, and lets SQS and SNS through', async () => {
    brownout.begin();
    const before = edge.seen.length;
    const put = s3.send(new PutObjectCommand({ Bucket: 'ics-output', Key: 'b.json', Body: Buffer.alloc(256 * 1024, 1) }));
    await expect(put).rejects.toMatchObject({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
    expect(brownout.refused).toBe(1);
    for (const service of ['sqs', 'sns']) {
      const res = await fetch(`${brownout.endpoint}/`, { method: 'POST', headers: { authorization: signed(service) }, body: 'Action=Publish' });
      expect(await res.text()).toBe('from the edge');
    }
    expect(edge.seen.slice(before)).toEqual(['sqs POST / 14', 'sns POST / 14']);
  });

  it('passes S3 again once the brownout ends', async () => {
    brownout.end();
    const got = await s3.send(new GetObjectCommand({ Bucket: 'ics-output', Key: 'c.json' }));
    expect(await got.Body?.transformToString()).toBe('from the edge');
    expect(brownout.refused).toBe(1);
  });
});
