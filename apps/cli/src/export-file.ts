import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Streams an export (a fetch body, any size) to a file or, without one, to
 * stdout (left open). A file is written beside its place and renamed into
 * it, so it is either the previous file or the complete new one.
 */
export async function writeExport(body: ReadableStream<Uint8Array>, out: string | undefined, stdout: Writable, signal?: AbortSignal): Promise<void> {
  const source = Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]);
  if (!out) {
    await pipeline(source, stdout, { end: false, signal });
    return;
  }
  const tmp = `${out}.tmp`;
  try {
    await pipeline(source, createWriteStream(tmp), { signal });
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
