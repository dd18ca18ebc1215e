import { crc32 } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '@app/config';
import { startLocalAws, LOCAL_CREDENTIALS, type LocalAws } from '@tools/local-aws';
import { faultyS3 } from '../testing/faulty-s3';
import { AwsClients } from './clients';
import { NotFoundError, PreconditionFailedError, RetryableError } from './errors';
import { ObjectRequests, UnsupportedBucketError } from './object-requests';
import { ObjectStore } from './object-store';

describe('ObjectRequests (the S3 client parts without its command stack) against the embedded S3', () => {
  let aws: LocalAws;
  let clients: AwsClients;
  let requests: ObjectRequests;
  let bucket: string;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
    clients = new AwsClients(loadConfig(aws.env));
    requests = new ObjectRequests(clients.s3);
    bucket = aws.buckets.input;
  });
  afterAll(async () => {
    clients.destroy();
    await aws.stop();
  });

  it('writes and reads keys that need escaping, as the SDK commands name them', async () => {
    const key = `escaped/${Date.now()}/a b+c (1)/ü~!*'.json`;
    const { etag } = await requests.put(bucket, key, '{"label":"tench"}', { contentType: 'application/json', metadata: { 'File-Name': 'u.jpg' } });
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect((await requests.get(bucket, key)).toString()).toBe('{"label":"tench"}');
    // The same object, seen through the SDK's HeadObject: same key, content type and metadata.
    expect(await new ObjectStore(clients.s3, bucket).head(key)).toMatchObject({ size: 17, contentType: 'application/json', metadata: { 'file-name': 'u.jpg' }, etag });
  });

  it('answers a missing key with NotFoundError and a refused condition with PreconditionFailedError', async () => {
    await expect(requests.get(bucket, `missing/${Date.now()}`)).rejects.toBeInstanceOf(NotFoundError);
    const key = `once/${Date.now()}`;
    await requests.put(bucket, key, 'first', { ifNoneMatch: '*' });
    await expect(requests.put(bucket, key, 'second', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect((await requests.get(bucket, key)).toString()).toBe('first');
  });

  it('retries what the client retries (500s, 503 SlowDown) with its strategy, then gives up with a retryable error', async () => {
    let failing = 2;
    const double = await faultyS3(aws.endpoint, LOCAL_CREDENTIALS, () =>
      failing-- > 0 ? (failing === 0 ? { status: 503, code: 'SlowDown' } : { status: 500, code: 'InternalError' }) : undefined,
    );
    try {
      const flaky = new ObjectRequests(double.s3);
      const key = `flaky/${Date.now()}`;
      await flaky.put(bucket, key, 'after a 500 and a 503');
      expect(double.faults()).toBe(2);
      failing = 1;
      expect((await flaky.get(bucket, key)).toString()).toBe('after a 500 and a 503');
      expect(double.faults()).toBe(3);

      failing = 1000;
      const err = await flaky.get(bucket, key).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as RetryableError).message).toMatch(/InternalError/);
      expect(double.faults()).toBe(3 + 4); // the client's maxAttempts
    } finally {
      await double.stop();
    }
  }, 20_000);

  it('sends and checks CRC32 checksums as the client does where it is set to (WHEN_SUPPORTED): bytes that changed on the way are refused', async () => {
    const crc = (bytes: Buffer) => {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc32(bytes));
      return out.toString('base64');
    };
    const key = `checksums/${Date.now()}.json`;
    const body = Buffer.from('{"label":"tench","confidence":0.84}');
    const sent: Record<string, string | undefined> = {};
    let tamper = false;
    const double = await faultyS3(
      aws.endpoint,
      LOCAL_CREDENTIALS,
      (req) => {
        if (req.method === 'PUT') sent['put'] = req.headers['x-amz-checksum-crc32'] as string | undefined;
        if (req.method === 'GET') sent['get'] = req.headers['x-amz-checksum-mode'] as string | undefined;
        // A GET answered with the stored checksum and other bytes (as S3 would send them, were they damaged on the way).
        return req.method === 'GET' && tamper ? { status: 200, code: 'OK', headers: { 'x-amz-checksum-crc32': crc(body) }, body: Buffer.from('{"label":"tiger","confidence":0.84}') } : undefined;
      },
      'WHEN_SUPPORTED',
    );
    try {
      const checked = new ObjectRequests(double.s3);
      await checked.put(bucket, key, body);
      expect(sent['put']).toBe(crc(body));
      expect((await checked.get(bucket, key)).equals(body)).toBe(true);
      expect(sent['get']).toBe('ENABLED');
      tamper = true;
      const err = await checked.get(bucket, key).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as Error).message).toMatch(/ChecksumMismatch/);
    } finally {
      await double.stop();
    }
    // Where the client is set not to (the local stack: WHEN_REQUIRED), none is sent or asked for.
    const checksumHeaders: string[] = [];
    const plain = await faultyS3(aws.endpoint, LOCAL_CREDENTIALS, (req) => {
      checksumHeaders.push(...Object.keys(req.headers).filter((h) => h.startsWith('x-amz-checksum')));
      return undefined;
    });
    try {
      await new ObjectRequests(plain.s3).put(bucket, key, body);
      await new ObjectRequests(plain.s3).get(bucket, key);
      expect(checksumHeaders).toEqual([]);
    } finally {
      await plain.stop();
    }
  });

  it('refuses, without sending anything, a bucket whose endpoint rules ask for another signing scheme', async () => {
    const s3 = new S3Client({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    try {
      // An S3 Express One Zone directory bucket: signed with session credentials (sigv4-s3express).
      const err = await new ObjectRequests(s3).get('photos--use1-az4--x-s3', 'k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsupportedBucketError);
      expect((err as Error).message).toMatch(/photos--use1-az4--x-s3 asks for sigv4-s3express signing/);
    } finally {
      s3.destroy();
    }
  });
});
