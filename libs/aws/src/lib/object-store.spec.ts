import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '@app/config';
import { startLocalAws, LOCAL_CREDENTIALS, type LocalAws } from '@tools/local-aws';
import { AwsClients } from './clients';
import { AwsResources } from './aws-resources';
import { AccessDeniedError, NotFoundError, UnreachableError } from './errors';
import { ObjectStore } from './object-store';

const DATASETS = resolve(process.env['DATASET_DIR'] ?? join(__dirname, '../../../../../shared/datasets'));
const photo = (name: string) => readFileSync(join(DATASETS, name));

describe('ObjectStore against the embedded S3', () => {
  let aws: LocalAws;
  let clients: AwsClients;
  let store: ObjectStore;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
    clients = new AwsClients(loadConfig(aws.env));
    store = new AwsResources(loadConfig(aws.env), clients).inputBucket;
  });
  afterAll(async () => {
    clients.destroy();
    await aws.stop();
  });

  it('stores real JPEGs byte for byte, with content type and metadata', async () => {
    const files = [
      'imagenet-sample/images/n03843555_oil_filter.JPEG', // the largest sample, 724 KB
      'imagenet-sample/images/n01440764_tench.JPEG',
      'imagenet-100/images/test_0.JPEG',
    ];
    for (const [i, file] of files.entries()) {
      const bytes = photo(file);
      const key = `round-trip/${i}.jpg`;
      await store.put(key, bytes, { contentType: 'image/jpeg', metadata: { 'file-name': `f${i}.jpg` } });
      expect((await store.getBuffer(key)).equals(bytes)).toBe(true);
      const { stream, info } = await store.getStream(key);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
      expect(info).toMatchObject({ size: bytes.length, contentType: 'image/jpeg', metadata: { 'file-name': `f${i}.jpg` } });
      expect(await store.head(key)).toMatchObject({ size: bytes.length, contentType: 'image/jpeg' });
    }
  });

  it('tells a missing object apart: head undefined, exists false, get NotFoundError', async () => {
    expect(await store.head('nope/missing.jpg')).toBeUndefined();
    expect(await store.exists('nope/missing.jpg')).toBe(false);
    await expect(store.getBuffer('nope/missing.jpg')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('deletes an object, and deleting a missing one is fine', async () => {
    await store.put('delete-me/1.jpg', 'x');
    await store.delete('delete-me/1.jpg');
    expect(await store.exists('delete-me/1.jpg')).toBe(false);
    await expect(store.delete('delete-me/1.jpg')).resolves.toBeUndefined();
  });

  it('lists by prefix only', async () => {
    await store.put('list-a/1.json', '{}');
    await store.put('list-a/2.json', '{}');
    await store.put('list-b/1.json', '{}');
    const keys = (await store.list('list-a/')).map((o) => o.key).sort();
    expect(keys).toEqual(['list-a/1.json', 'list-a/2.json']);
  });

  it('lists past one page of results', async () => {
    const many = Array.from({ length: 1005 }, (_, i) => `page/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < many.length; i += 50) {
      await Promise.all(many.slice(i, i + 50).map((k) => store.put(k, 'x')));
    }
    const listed = await store.list('page/');
    expect(listed).toHaveLength(1005);
  }, 60_000);

  it('gives a presigned URL that plain fetch() can download', async () => {
    const bytes = photo('imagenet-100/images/test_1.JPEG');
    await store.put('presigned/test_1.jpg', bytes, { contentType: 'image/jpeg' });
    const url = await store.presignGet('presigned/test_1.jpg', 60);
    expect(url).toContain('X-Amz-Signature=');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('maps wrong credentials to AccessDeniedError and a dead endpoint to UnreachableError', async () => {
    const wrongKeys = new ObjectStore(
      new S3Client({
        region: 'us-east-1',
        endpoint: aws.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'x' },
        maxAttempts: 1,
      }),
      aws.buckets.input,
    );
    await expect(wrongKeys.getBuffer('round-trip/0.jpg')).rejects.toBeInstanceOf(AccessDeniedError);

    const dead = new AwsClients(loadConfig({ ...aws.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }));
    const err = await new ObjectStore(dead.s3, aws.buckets.input).exists('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    dead.destroy();
  });

  // DESIGN.md: without WHEN_REQUIRED checksums, s3rver stores streamed uploads
  // corrupted (the aws-chunked framing ends up in the object). The local stack
  // sets WHEN_REQUIRED; this shows why.
  it('quirk: a streamed upload is stored intact only with WHEN_REQUIRED checksums', async () => {
    const bytes = photo('imagenet-100/images/test_2.JPEG');
    const upload = async (mode: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED', key: string) => {
      const s3 = new S3Client({
        region: 'us-east-1',
        endpoint: aws.endpoint,
        forcePathStyle: true,
        requestChecksumCalculation: mode,
        responseChecksumValidation: mode,
      });
      await s3.send(
        new PutObjectCommand({ Bucket: aws.buckets.input, Key: key, Body: Readable.from([bytes]), ContentLength: bytes.length }),
      );
      s3.destroy();
      return store.getBuffer(key);
    };
    expect((await upload('WHEN_SUPPORTED', 'quirk/default.jpg')).equals(bytes)).toBe(false);
    expect((await upload('WHEN_REQUIRED', 'quirk/required.jpg')).equals(bytes)).toBe(true);
  });
});
