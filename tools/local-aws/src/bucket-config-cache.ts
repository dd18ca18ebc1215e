/** The parts of s3rver's FilesystemStore that keep a bucket's configurations (it ships no types). */
export interface BucketConfigStore {
  getSubresource(bucket: string, key: string | undefined, type: string): Promise<unknown>;
  putSubresource(bucket: string, key: string | undefined, resource: { type: string }): Promise<void>;
  deleteSubresource(bucket: string, key: string | undefined, type: string): Promise<void>;
  putBucket(bucket: string): Promise<unknown>;
  deleteBucket(bucket: string): Promise<unknown>;
}

/**
 * Keeps a bucket's configurations (CORS, website) in memory. s3rver's CORS and website
 * middleware read both from disk on every request, and as no bucket here has either, each
 * request paid two failed file reads (about a sixth of the embedded S3's CPU per request).
 * Every change goes through the store, so the cache is dropped on each: what a request sees
 * is what the disk holds. An object's own subresources (its tags) are not cached.
 */
export function cacheBucketConfigs(store: BucketConfigStore): void {
  const cached = new Map<string, Promise<unknown>>();
  const id = (bucket: string, type: string) => `${bucket}\0${type}`;
  const forget = (bucket: string) => {
    for (const k of cached.keys()) if (k.startsWith(`${bucket}\0`)) cached.delete(k);
  };
  const get = store.getSubresource.bind(store);
  const put = store.putSubresource.bind(store);
  const remove = store.deleteSubresource.bind(store);
  const putBucket = store.putBucket.bind(store);
  const deleteBucket = store.deleteBucket.bind(store);

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
