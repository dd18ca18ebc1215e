/** The parts of s3rver's FilesystemStore that keep buckets and their configurations (it ships no types). */
export interface BucketStore {
  /** The bucket (its name and creation date), or null when there is none. */
  getBucket(bucket: string): Promise<unknown>;
  getSubresource(bucket: string, key: string | undefined, type: string): Promise<unknown>;
  putSubresource(bucket: string, key: string | undefined, resource: { type: string }): Promise<void>;
  deleteSubresource(bucket: string, key: string | undefined, type: string): Promise<void>;
  putBucket(bucket: string): Promise<unknown>;
  deleteBucket(bucket: string): Promise<unknown>;
}

/**
 * Keeps buckets and their configurations (CORS, website) in memory. s3rver's CORS and website
 * middleware read both from disk on every request, and as no bucket here has either, each
 * request paid two failed file reads (about a sixth of the embedded S3's CPU per request);
 * every request also checks that its bucket exists with a stat of the bucket's folder.
 * Every change goes through the store, so the cache is dropped on each: what a request sees
 * is what the disk holds. A missing bucket is not remembered (it may be created next), nor
 * an object's own subresources (its tags).
 */
export function cacheBuckets(store: BucketStore): void {
  const cached = new Map<string, Promise<unknown>>();
  const buckets = new Map<string, Promise<unknown>>();
  const id = (bucket: string, type: string) => `${bucket}\0${type}`;
  const forget = (bucket: string) => {
    buckets.delete(bucket);
    for (const k of cached.keys()) if (k.startsWith(`${bucket}\0`)) cached.delete(k);
  };
  const getBucket = store.getBucket.bind(store);
  const get = store.getSubresource.bind(store);
  const put = store.putSubresource.bind(store);
  const remove = store.deleteSubresource.bind(store);
  const putBucket = store.putBucket.bind(store);
  const deleteBucket = store.deleteBucket.bind(store);

  store.getBucket = (bucket) => {
    let found = buckets.get(bucket);
    if (!found) {
      found = getBucket(bucket);
      buckets.set(bucket, found);
      // Neither a failed read nor "no such bucket" is remembered.
      found.then(
        (b) => b ?? buckets.delete(bucket),
        () => buckets.delete(bucket),
      );
    }
    return found;
  };
  store.getSubresource = (bucket, key, type) => {
    if (key !== undefined) return get(bucket, key, type);
    let config = cached.get(id(bucket, type));
    if (!config) {
      config = get(bucket, key, type);
      cached.set(id(bucket, type), config);
      // A failed read is not remembered: the next request reads again.
      config.catch(() => cached.delete(id(bucket, type)));
    }
    return config;
  };
  store.putSubresource = async (bucket, key, resource) => {
    try {
      await put(bucket, key, resource);
    } finally {
      if (key === undefined) cached.delete(id(bucket, resource.type));
    }
  };
  store.deleteSubresource = async (bucket, key, type) => {
    try {
      await remove(bucket, key, type);
    } finally {
      if (key === undefined) cached.delete(id(bucket, type));
    }
  };
  store.putBucket = async (bucket) => {
    try {
      return await putBucket(bucket);
    } finally {
      forget(bucket);
    }
  };
  store.deleteBucket = async (bucket) => {
    try {
      return await deleteBucket(bucket);
    } finally {
      forget(bucket);
    }
  };
}
