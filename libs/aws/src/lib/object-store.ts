import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { call, ConflictError, NotFoundError, PreconditionFailedError } from './errors';
import { ObjectRequests, type ObjectPut } from './object-requests';

/** What a conditional create did: wrote the object, or found one there already (and wrote nothing). */
export type PutIfAbsentOutcome = 'created' | 'exists';

/** Tries of a conditional create that S3 answers 409 ConditionalRequestConflict (a concurrent write of the key). */
const CONFLICT_TRIES = 4;

export interface PutOptions {
  contentType?: string;
  /** User metadata (x-amz-meta-*): ASCII keys and values. */
  metadata?: Record<string, string>;
}

export interface ObjectInfo {
  key: string;
  size: number;
  contentType?: string;
  metadata: Record<string, string>;
  lastModified?: Date;
  etag?: string;
}

/** What a GetObject or HeadObject response says of the object. */
function objectInfo(
  key: string,
  out: { ContentLength?: number; ContentType?: string; Metadata?: Record<string, string>; LastModified?: Date; ETag?: string },
): ObjectInfo {
  return {
    key,
    size: out.ContentLength ?? 0,
    contentType: out.ContentType,
    metadata: out.Metadata ?? {},
    lastModified: out.LastModified,
    etag: out.ETag,
  };
}

/**
 * One S3 bucket. Reads into a buffer and writes go through ObjectRequests (the
 * client's parts without its command stack: most of a worker's CPU per image
 * outside the model was the SDK's, see object-requests.ts); the rest are commands.
 */
export class ObjectStore {
  private readonly requests: ObjectRequests;

  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {
    this.requests = ObjectRequests.of(s3);
  }

  async put(key: string, body: Buffer | Uint8Array | string, options: PutOptions = {}): Promise<void> {
    await this.requests.put(this.bucket, key, body, options);
  }

  /**
   * Creates the object only if the key is free (S3's `If-None-Match: *`): the
   * first writer wins, and a later one gets 'exists' and changes nothing. A 409
   * ConditionalRequestConflict (another write of the key in progress) is retried,
   * after which S3 answers created or 412; still conflicting: ConflictError.
   */
  async putIfAbsent(key: string, body: Buffer | Uint8Array | string, options: PutOptions = {}): Promise<PutIfAbsentOutcome> {
    return (await this.createIfAbsent(key, body, options)).outcome;
  }

  /** As putIfAbsent, with the created object's ETag (for a later putIfMatch). */
  async createIfAbsent(
    key: string,
    body: Buffer | Uint8Array | string,
    options: PutOptions = {},
  ): Promise<{ outcome: 'created'; etag: string } | { outcome: 'exists' }> {
    const written = await this.conditionalPut(key, body, { ...options, ifNoneMatch: '*' });
    return written === 'precondition-failed' ? { outcome: 'exists' } : { outcome: 'created', etag: written.etag };
  }

  /**
   * Replaces the object only while its ETag is still `etag` (S3's `If-Match`,
   * a compare-and-swap): 'replaced' with the new ETag, 'changed' when another
   * writer got there first, 'absent' when the object is gone. Nothing is
   * written unless 'replaced'.
   */
  async putIfMatch(
    key: string,
    body: Buffer | Uint8Array | string,
    etag: string,
    options: PutOptions = {},
  ): Promise<{ outcome: 'replaced'; etag: string } | { outcome: 'changed' | 'absent' }> {
    try {
      const written = await this.conditionalPut(key, body, { ...options, ifMatch: etag });
      return written === 'precondition-failed' ? { outcome: 'changed' } : { outcome: 'replaced', etag: written.etag };
    } catch (err) {
      if (err instanceof NotFoundError) return { outcome: 'absent' };
      throw err;
    }
  }

  /** One conditional PutObject: its new ETag, or 'precondition-failed' (412); 409 conflicts are retried. */
  private async conditionalPut(key: string, body: Buffer | Uint8Array | string, put: ObjectPut): Promise<{ etag: string } | 'precondition-failed'> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requests.put(this.bucket, key, body, put);
      } catch (err) {
        if (err instanceof PreconditionFailedError) return 'precondition-failed';
        if (!(err instanceof ConflictError) || attempt >= CONFLICT_TRIES) throw err;
        await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * (0.5 + Math.random() / 2)));
      }
    }
  }

  /** The object's bytes; NotFoundError when it does not exist. */
  getBuffer(key: string): Promise<Buffer> {
    return this.requests.get(this.bucket, key);
  }

  /** The object's bytes and ETag, or undefined when it does not exist (for a later putIfMatch). */
  async getIfExists(key: string): Promise<{ body: Buffer; etag: string } | undefined> {
    try {
      const { stream, info } = await this.getStream(key);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return { body: Buffer.concat(chunks), etag: info.etag ?? '' };
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** The object as a stream, for large objects and for proxying. */
  async getStream(key: string): Promise<{ stream: Readable; info: ObjectInfo }> {
    return call('s3.GetObject', async () => {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!out.Body) throw new NotFoundError(`s3.GetObject: ${key} has no body`, 's3.GetObject');
      return {
        stream: out.Body as Readable,
        info: objectInfo(key, out),
      };
    });
  }

  /** Metadata of the object, or undefined when there is none. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await call('s3.HeadObject', () =>
        this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
      );
      return objectInfo(key, out);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  /** Removes the object; removing one that is not there is not an error (as in S3). */
  async delete(key: string): Promise<void> {
    await call('s3.DeleteObject', () => this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  /** Every key under the prefix (all pages; `pageSize` keys a request, S3's default 1000 when unset). */
  async list(prefix = '', { pageSize }: { pageSize?: number } = {}): Promise<{ key: string; size: number }[]> {
    const keys: { key: string; size: number }[] = [];
    // ListObjects (v1, paged by Marker = the last key seen) rather than v2:
    // s3rver makes v2 continuation tokens with DES, which Node 20's OpenSSL 3
    // refuses, so any truncated v2 page fails there. v1 is equally real S3 API.
    let startAfter: string | undefined;
    for (;;) {
      const out = await call('s3.ListObjects', () =>
        this.s3.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: startAfter, MaxKeys: pageSize })),
      );
      for (const o of out.Contents ?? []) if (o.Key) keys.push({ key: o.Key, size: o.Size ?? 0 });
      const last = keys.at(-1)?.key;
      if (!out.IsTruncated || last === undefined || last === startAfter) return keys;
      startAfter = last;
    }
  }

  /**
   * One page of keys under the prefix, in key order, starting after `after`
   * (exclusive): `next` is the key to pass as `after` for the next page, absent
   * on the last one.
   */
  async listPage(prefix: string, options: { after?: string; maxKeys: number }): Promise<{ keys: string[]; next?: string }> {
    const out = await call('s3.ListObjects', () =>
      this.s3.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: options.after, MaxKeys: options.maxKeys })),
    );
    const keys = (out.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
    return out.IsTruncated && keys.length > 0 ? { keys, next: keys.at(-1) } : { keys };
  }

  /** A URL anyone can GET the object from until it expires (signing is local: no request made). */
  async presignGet(key: string, expiresInSeconds = 3600): Promise<string> {
    // Loaded on first use: only the web tier signs URLs, and every worker start would load it.
    const { getSignedUrl } = require('@aws-sdk/s3-request-presigner') as typeof import('@aws-sdk/s3-request-presigner');
    return call('s3.presign', () =>
      getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn: expiresInSeconds,
      }),
    );
  }
}
