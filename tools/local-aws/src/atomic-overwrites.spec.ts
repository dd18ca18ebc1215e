import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from './local-aws';

/**
 * S3 replaces an object whole: a GET during an overwrite gets the old bytes or the new ones, never a mix
 * and never fewer than it announced. This system rewrites objects all the time (heartbeats, the launch
 * lease, batch indexes) while others read them.
 */
function fail(why: string): never {
  throw new Error(why);
}

/** `work`, or a rejection naming what stalled: a truncated body never ends (its length was announced). */
function within<T>(ms: number, work: Promise<T>, stalled: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(stalled)), ms)));
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

describe('overwrites on the local S3 edge', () => {
  let aws: LocalAws;
  let s3: S3Client;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint, credentials: LOCAL_CREDENTIALS, forcePathStyle: true, maxAttempts: 1, requestHandler: new NodeHttpHandler({ requestTimeout: 5_000, throwOnRequestTimeout: true }), requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  });
  afterAll(async () => {
    s3?.destroy();
    await aws?.stop();
  });

  it('a GET racing overwrites of the same key reads one whole version (its bytes all the same, its length announced)', async () => {
    const Bucket = 'ics-output';
    const Key = 'heartbeats/racing.json';
    const version = (n: number) => Buffer.alloc(256 * 1024 + n * 4096, 65 + (n % 26));
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: version(0) }));
    let writing = true;
    const problems: string[] = [];
    const writer = (async () => {
      for (let n = 1; writing; n++) {
        await s3.send(new PutObjectCommand({ Bucket, Key, Body: version(n) })).catch((err: Error) => problems.push(`PUT failed: ${err.message}`));
      }
    })();
    try {
      for (let i = 0; i < 40 && problems.length < 3; i++) {
        try {
          const got = await s3.send(new GetObjectCommand({ Bucket, Key }), { abortSignal: AbortSignal.timeout(5_000) });
          const body = await within(5_000, (got.Body ?? fail("no body")).transformToByteArray().then((b) => Buffer.from(b)), 'the body stalled');
          const n = (body.length - 256 * 1024) / 4096;
          if (body.length !== got.ContentLength) problems.push(`read ${body.length} bytes of ${got.ContentLength} announced`);
          else if (!Number.isInteger(n) || !body.equals(version(n))) problems.push(`read a mix of versions (${body.length} bytes)`);
        } catch (err) {
          problems.push(`GET failed: ${(err as Error).message}`);
        }
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(problems).toEqual([]);
  });

  it("puts into a folder that is missing, and into one s3rver removed with its last object, leaving no partial file", async () => {
    const Bucket = aws.buckets.output;
    const put = (Key: string, Body: string) => s3.send(new PutObjectCommand({ Bucket, Key, Body }));
    const get = async (Key: string) => (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body?.transformToString();
    await put('fresh/deep/one.json', '1');
    await put('fresh/deep/two.json', '2');
    expect([await get('fresh/deep/one.json'), await get('fresh/deep/two.json')]).toEqual(['1', '2']);
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'fresh/deep/one.json' }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'fresh/deep/two.json' }));
    expect(existsSync(join(aws.dataDir, Bucket, 'fresh'))).toBe(false);
    await put('fresh/deep/one.json', 'again');
    expect(await get('fresh/deep/one.json')).toBe('again');
    const partial = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? partial(join(dir, e.name)) : e.name.endsWith('.partial') ? [e.name] : []));
    expect(partial(join(aws.dataDir, Bucket))).toEqual([]);
  });
});
