import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketCorsCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { cacheBuckets, type BucketStore } from './bucket-cache';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from './local-aws';

/** A store that counts its reads of buckets and their configurations, and holds what was put. */
function countingStore() {
  const configs = new Map<string, { type: string }>();
  const buckets = new Set<string>();
  const reads: string[] = [];
  const store: BucketStore = {
    getBucket: async (bucket) => {
      reads.push(`bucket ${bucket}`);
      return buckets.has(bucket) ? { name: bucket } : null;
    },
    getSubresource: async (bucket, key, type) => {
      reads.push(`${bucket}/${key ?? ''}/${type}`);
      return configs.get(`${bucket}/${key ?? ''}/${type}`) ?? null;
    },
    putSubresource: async (bucket, key, resource) => void configs.set(`${bucket}/${key ?? ''}/${resource.type}`, resource),
    deleteSubresource: async (bucket, key, type) => void configs.delete(`${bucket}/${key ?? ''}/${type}`),
    putBucket: async (bucket) => void buckets.add(bucket),
    deleteBucket: async (bucket) => {
      buckets.delete(bucket);
      for (const k of configs.keys()) if (k.startsWith(`${bucket}/`)) configs.delete(k);
    },
  };
  return { store, reads };
}

describe('cacheBuckets: buckets and their configurations read from disk once, not on every request', () => {
  it('looks a bucket up once while it exists, and again after it is deleted or was missing', async () => {
    const { store, reads } = countingStore();
    cacheBuckets(store);
    expect(await store.getBucket('b')).toBeNull();
    expect(await store.getBucket('b')).toBeNull();
    await store.putBucket('b');
    expect(await store.getBucket('b')).toEqual({ name: 'b' });
    expect(await store.getBucket('b')).toEqual({ name: 'b' });
    expect(reads).toEqual(['bucket b', 'bucket b', 'bucket b']);
    await store.deleteBucket('b');
    expect(await store.getBucket('b')).toBeNull();
    expect(reads).toHaveLength(4);
  });

  it('reads a bucket configuration once, and again after each change to it', async () => {
    const { store, reads } = countingStore();
    cacheBuckets(store);
    expect(await store.getSubresource('b', undefined, 'cors')).toBeNull();
    expect(await store.getSubresource('b', undefined, 'cors')).toBeNull();
    expect(reads).toEqual(['b//cors']);

    await store.putSubresource('b', undefined, { type: 'cors' });
    expect(await store.getSubresource('b', undefined, 'cors')).toEqual({ type: 'cors' });
    await store.deleteSubresource('b', undefined, 'cors');
    expect(await store.getSubresource('b', undefined, 'cors')).toBeNull();
    await store.getSubresource('b', undefined, 'website');
    await store.deleteBucket('b');
    await store.getSubresource('b', undefined, 'website');
    expect(reads).toEqual(['b//cors', 'b//cors', 'b//cors', 'b//website', 'b//website']);
  });

  it("reads an object's own subresources every time", async () => {
    const { store, reads } = countingStore();
    cacheBuckets(store);
    await store.getSubresource('b', 'k', 'tagging');
    await store.getSubresource('b', 'k', 'tagging');
    expect(reads).toEqual(['b/k/tagging', 'b/k/tagging']);
  });

  it('does not remember a failed read', async () => {
    const { store } = countingStore();
    let fail = true;
    const read = store.getSubresource;
    store.getSubresource = async (...args) => {
      if (fail) throw new Error('EMFILE');
      return read(...args);
    };
    cacheBuckets(store);
    await expect(store.getSubresource('b', undefined, 'cors')).rejects.toThrow('EMFILE');
    fail = false;
    await expect(store.getSubresource('b', undefined, 'cors')).resolves.toBeNull();
  });
});

describe('the embedded S3 with cached buckets and configurations', () => {
  let aws: LocalAws;
  let s3: S3Client;
  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    s3 = new S3Client({ endpoint: aws.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    s3.destroy();
    await aws.stop();
  });

  const preflight = () =>
    fetch(`${aws.endpoint}/${aws.buckets.input}/photo.jpg`, { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' } });

  it('answers a CORS preflight as the bucket is configured now: refused, allowed once set, refused once removed', async () => {
    expect((await preflight()).status).toBe(403);
    await s3.send(
      new PutBucketCorsCommand({ Bucket: aws.buckets.input, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['https://app.example'], AllowedMethods: ['GET'] }] } }),
    );
    const allowed = await preflight();
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-methods')).toBe('GET');
    await s3.send(new DeleteBucketCorsCommand({ Bucket: aws.buckets.input }));
    expect((await preflight()).status).toBe(403);
  });

  it('answers NoSuchBucket for a bucket once it is deleted, and serves it again once re-created', async () => {
    const Bucket = 'cached-then-deleted';
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'one' }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
    await expect(s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'two' }))).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'three' }));
    expect(await (await s3.send(new GetObjectCommand({ Bucket, Key: 'k' }))).Body?.transformToString()).toBe('three');
  });
});
