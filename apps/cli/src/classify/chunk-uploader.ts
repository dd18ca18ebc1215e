import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { TimeoutsOptions } from 'retry';
import { ApiError, type IcsClient, type UploadAnswer } from '@app/api-client';
import type { RunState, UploadedFile } from './run-state';
import { withRetry } from './retrying';

/** A file the server would not take, and why. */
export interface Refusal {
  path: string;
  reason: string;
}

export interface ChunkUploaderOptions {
  concurrency: number;
  signal?: AbortSignal;
  backoff?: TimeoutsOptions;
  /** Files accepted so far in this run (for the progress bar). */
  onAccepted?: (count: number) => void;
  log?: (line: string) => void;
}

/**
 * The Idempotency-Key of one chunk: a hash of the batch id and of each file's
 * name and bytes, in order. A retry, or a rerun after an interruption that
 * lost the answer, sends the same key with the same body, and the server
 * answers with the images it already stored instead of storing them again.
 */
export function chunkIdempotencyKey(batchId: string, files: { name: string; bytes: Uint8Array }[]): string {
  const h = createHash('sha256').update(`ics-chunk\n${batchId}\n`);
  for (const f of files) h.update(`${f.name}\n${createHash('sha256').update(f.bytes).digest('hex')}\n`);
  return h.digest('hex');
}

/** Cuts files into chunks of `size`, in order (aligned, so that a rerun without the finished chunks cuts the rest the same). */
export function chunksOf<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Pairs an answer's images with the files sent: in order, skipping the files it lists as failed. */
export function matchAnswer(paths: string[], answer: UploadAnswer): { accepted: { path: string; image: UploadedFile }[]; refused: Refusal[] } {
  const accepted: { path: string; image: UploadedFile }[] = [];
  const refused: Refusal[] = [];
  const failed = answer.failed ?? [];
  let j = 0;
  for (const path of paths) {
    const image = answer.images[j];
    const name = basename(path).normalize('NFC').trim();
    if (image && (failed.length === 0 || image.fileName === name)) {
      accepted.push({ path, image: { imageId: image.imageId, fileName: image.fileName } });
      j++;
    } else {
      refused.push({ path, reason: failed.find((f) => f.fileName === name)?.reason ?? 'not accepted' });
    }
  }
  return { accepted, refused };
}

/**
 * Uploads files into an open batch, a chunk per request, `concurrency`
 * requests at a time, each retried on transient failures with its
 * idempotency key. Records every accepted chunk in the run state before
 * going on. A chunk the server refuses (4xx) is reported, the rest go on.
 */
export class ChunkUploader {
  private accepted = 0;

  constructor(
    private readonly client: IcsClient,
    private readonly state: RunState,
    private readonly options: ChunkUploaderOptions,
  ) {}

  async uploadAll(paths: string[]): Promise<Refusal[]> {
    const chunks = chunksOf(paths, this.state.batchSize);
    const refused: Refusal[] = [];
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) {
        this.options.signal?.throwIfAborted();
        refused.push(...(await this.uploadChunk(chunks[next++])));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, chunks.length) }, lane));
    return refused;
  }

  private async uploadChunk(paths: string[]): Promise<Refusal[]> {
    const files = await Promise.all(paths.map(async (path) => ({ path, name: basename(path), bytes: await readFile(path) })));
    const key = chunkIdempotencyKey(this.state.batchId, files);
    let answer: UploadAnswer;
    try {
      answer = await withRetry(
        () =>
          this.client.addImages(
            this.state.batchId,
            files.map((f) => ({ name: f.name, data: new Blob([new Uint8Array(f.bytes)]) })),
            { idempotencyKey: key, signal: this.options.signal },
          ),
        {
          backoff: this.options.backoff,
          signal: this.options.signal,
          onRetry: (err, ms) => this.options.log?.(`upload of ${files.length} files failed (${(err as Error).message}); retrying in ${(ms / 1000).toFixed(1)} s`),
        },
      );
    } catch (err) {
      if (this.options.signal?.aborted || !(err instanceof ApiError) || err.transient) throw err;
      // The batch was closed or deleted meanwhile: nothing else can go in either.
      if (err.status === 404 || err.status === 409) throw err;
      return paths.map((path) => ({ path, reason: err.message }));
    }
    const { accepted, refused } = matchAnswer(paths, answer);
    this.state.recordUploads(accepted);
    this.accepted += accepted.length;
    this.options.onAccepted?.(this.accepted);
    return refused;
  }
}
