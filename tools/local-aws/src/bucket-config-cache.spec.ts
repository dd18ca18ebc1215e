import { DeleteBucketCorsCommand, PutBucketCorsCommand, S3Client } from '@aws-sdk/client-s3';
import { cacheBucketConfigs, type BucketConfigStore } from './bucket-config-cache';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from './local-aws';

/** A store that counts its reads of bucket configurations and holds what was put. */
function countingStore() {
  const configs = new Map<string, { type: string }>();
  const reads: string[] = [];
  const store: BucketConfigStore = {
    getSubresource: async (bucket, key, type) => {
      reads.push(`${bucket}/${key ?? ''}/${type}`);
      return configs.get(`${bucket}/${key ?? ''}/${type}`) ?? null;
    },
    putSubresource: async (bucket, key, resource) => void configs.set(`${bucket}/${key ?? ''}/${resource.type}`, resource),
    deleteSubresource: async (bucket, key, type) => void configs.delete(`${bucket}/${key ?? ''}/${type}`),
    putBucket: async () => undefined,
    deleteBucket: async (bucket) => {
      for (const k of configs.keys()) if (k.startsWith(`${bucket}/`)) configs.delete(k);
    },
  };
  return { store, reads };
}

describe('cacheBucketConfigs: bucket configurations read from disk once, not on every request', () => {
  it('reads a bucket configuration once, and again after each change to it', async () => {
    const { store, reads } = countingStore();
    cacheBucketConfigs(store);
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
    cacheBucketConfigs(store);
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
    cacheBucketConfigs(store);
    await expect(store.getSubresource('b', undefined, 'cors')).rejects.toThrow('EMFILE');
    fail = false;
    await expect(store.getSubresource('b', undefined, 'cors')).resolves.toBeNull();
  });
});

describe('the embedded S3 with cached bucket configurations', () => {
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
});
