import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The parts of s3rver's FilesystemStore this touches (it ships no types). */
export interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putObject(object: { bucket: string; key: string; content: Buffer | Readable; metadata: Record<string, string> }): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  getMetadata(bucket: string, key: string): Promise<unknown>;
}

/**
 * S3 replaces an object whole: a GET during an overwrite reads the old version or the new one.
 * s3rver truncates the object's file and rewrites it in place, then its metadata, so a GET racing a
 * rewrite (heartbeats, the launch lease, batch indexes: objects this system rewrites while others
 * read them) got a mix of versions, or fewer bytes than the length it announced, and its client
 * saw `aborted` or waited for ever. Here a new version is written beside the object and renamed
 * over it (a read already open keeps the old file), and a key's rename and metadata are swapped
 * while no reader of that key is between reading its metadata and opening its file.
 */
export function makeOverwritesAtomic(store: S3rverStore): void {
  const locks = new KeyLocks();
  const getObject = store.getObject.bind(store);
  const getMetadata = store.getMetadata.bind(store);
  const putMetadata = store.putMetadata.bind(store);
  const id = (bucket: string, key: string) => `${bucket}/${key}`;

  store.getObject = (bucket, key, options) => locks.read(id(bucket, key), () => getObject(bucket, key, options));
  store.getMetadata = (bucket, key) => locks.read(id(bucket, key), () => getMetadata(bucket, key));
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    // Not ending in s3rver's object suffix, so never listed as an object.
    const partial = `${objectPath}.${randomBytes(6).toString('hex')}.partial`;
    const file = await createBeside(partial);
    let renamed = false;
    try {
      const md5 = createHash('md5');
      let size = 0;
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          md5.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      const content = Buffer.isBuffer(object.content) ? [object.content] : object.content;
      await pipeline(content, count, file.createWriteStream());
      const digest = md5.digest('hex');
      await locks.write(id(object.bucket, object.key), async () => {
        await rename(partial, objectPath);
        renamed = true;
        await putMetadata(object.bucket, object.key, object.metadata, digest);
      });
      return { size, md5: digest };
    } finally {
      await file.close().catch(() => undefined);
      if (!renamed) await rm(partial, { force: true });
    }
  };
}

/**
 * Opens a new file, creating its folder only when missing: most keys go into a folder that is
 * there already, and a mkdir on every PUT was the emulator's largest file-system cost. s3rver
 * removes a folder once its last object is deleted, so one may vanish between the two: tried again.
 */
async function createBeside(path: string): Promise<FileHandle> {
  for (let tries = 1; ; tries++) {
    try {
      return await open(path, 'w');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || tries === 3) throw err;
      await mkdir(dirname(path), { recursive: true });
    }
  }
}

/** Per key: readers share, a writer waits until no reader is inside and keeps new ones out meanwhile. */
class KeyLocks {
  private readonly keys = new Map<string, { readers: number; writing: boolean; queue: (() => void)[] }>();

  async read<T>(key: string, work: () => Promise<T>): Promise<T> {
    const k = this.entry(key);
    while (k.writing) await new Promise<void>((r) => k.queue.push(r));
    k.readers++;
    try {
      return await work();
    } finally {
      k.readers--;
      this.wake(key, k);
    }
  }

  async write<T>(key: string, work: () => Promise<T>): Promise<T> {
    const k = this.entry(key);
    while (k.writing || k.readers > 0) await new Promise<void>((r) => k.queue.push(r));
    k.writing = true;
    try {
      return await work();
    } finally {
      k.writing = false;
      this.wake(key, k);
    }
  }

  private entry(key: string) {
    let k = this.keys.get(key);
    if (!k) this.keys.set(key, (k = { readers: 0, writing: false, queue: [] }));
    return k;
  }

  private wake(key: string, k: { readers: number; writing: boolean; queue: (() => void)[] }): void {
    const waiting = k.queue.splice(0);
    // Forgotten only when nobody holds or awaits it: a woken waiter goes on with this entry.
    if (waiting.length === 0 && k.readers === 0 && !k.writing) this.keys.delete(key);
    for (const resume of waiting) resume();
  }
}
