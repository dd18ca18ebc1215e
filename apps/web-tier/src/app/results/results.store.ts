import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import type { OutputMessage } from '@app/contracts';

export type ImageStatus = 'queued' | 'done' | 'error';

export interface ImageRecord {
  imageId: string;
  batchId: string;
  fileName: string;
  /** Input bucket key; unknown for a result of an upload this process did not take. */
  inputKey?: string;
  status: ImageStatus;
  /** When this process accepted the upload (ms since epoch). */
  uploadedAt?: number;
  result?: OutputMessage;
  /** When the output bucket was last asked for its result (ms since epoch). */
  checkedAt?: number;
  /**
   * True for a result heard on the queue for an image this process did not
   * know (uploaded by another process, before a restart, or forgotten): the
   * output bucket has the word on such an image, so reads confirm it there
   * first (a late duplicate must not become the answer of a restarted tier).
   */
  unconfirmed?: boolean;
}

interface BatchRecord {
  batchId: string;
  imageIds: string[];
  /** Images still without a result. */
  pending: number;
  /** False when rebuilt from storage after a restart and some image ids may be missing. */
  complete: boolean;
}

const newBatch = (batchId: string, complete: boolean): BatchRecord => ({
  batchId,
  imageIds: [],
  pending: 0,
  complete,
});

export class ShuttingDownError extends Error {
  override readonly name = 'ShuttingDownError';
}

export class ResultTimeoutError extends Error {
  override readonly name = 'ResultTimeoutError';
}

/**
 * Results this process knows, in memory, and the events that push them to
 * whoever waits (classic requests, SSE streams). Applying a result twice is
 * harmless: the first one wins, later ones are reported as duplicates.
 * Bounded: the oldest batches are forgotten first (they stay readable from the
 * output bucket).
 */
@Injectable()
export class ResultsStore {
  private readonly images = new Map<string, ImageRecord>();
  /** Insertion order = age, for eviction. */
  private readonly batches = new Map<string, BatchRecord>();
  private readonly events = new EventEmitter();
  private readonly limit: number;
  private closing = false;

  constructor(config: AppConfig) {
    this.limit = config.web.resultCacheImages;
    // One listener per waiting request or stream: hundreds at once is normal.
    this.events.setMaxListeners(0);
  }

  /** Records queued images of a new batch, or added to one (before their launch messages are sent). */
  addBatch(batchId: string, records: Omit<ImageRecord, 'status' | 'batchId'>[]): void {
    const batch = this.batches.get(batchId) ?? newBatch(batchId, true);
    this.batches.set(batchId, batch);
    for (const r of records) {
      this.images.set(r.imageId, { ...r, batchId, status: 'queued' });
      batch.imageIds.push(r.imageId);
      batch.pending++;
    }
    this.evict();
  }

  /** Forgets images whose upload failed after all (their messages were never sent). */
  removeImages(batchId: string, imageIds: string[]): void {
    const batch = this.batches.get(batchId);
    for (const id of imageIds) {
      const r = this.images.get(id);
      if (!r) continue;
      this.images.delete(id);
      if (batch) {
        batch.imageIds = batch.imageIds.filter((x) => x !== id);
        if (r.status === 'queued') batch.pending--;
      }
    }
    if (batch && batch.imageIds.length === 0) this.batches.delete(batchId);
  }

  /**
   * Records a batch rebuilt from storage (after a restart). Images already
   * known in memory keep their state.
   */
  hydrateBatch(batchId: string, records: ImageRecord[]): void {
    const existing = this.batches.get(batchId);
    const batch = existing ?? newBatch(batchId, true);
    // Rebuilt from the full listing of the batch's stored images.
    batch.complete = true;
    const newlyResolved: ImageRecord[] = [];
    for (const r of records) {
      if (!batch.imageIds.includes(r.imageId)) batch.imageIds.push(r.imageId);
      const known = this.images.get(r.imageId);
      // The first result known wins; storage only fills in what memory lacks.
      // A result only heard on the queue gives way to the bucket's (the first one written).
      const resolves = (known?.status === 'queued' && r.status !== 'queued') || (known?.unconfirmed === true && r.result !== undefined);
      if (!known || resolves) this.images.set(r.imageId, { ...known, ...r, unconfirmed: undefined });
      if (resolves) newlyResolved.push(this.images.get(r.imageId) as ImageRecord);
    }
    batch.pending = batch.imageIds.filter((id) => this.images.get(id)?.status === 'queued').length;
    this.batches.set(batchId, batch);
    this.evict();
    // Waiting requests and streams learn of results found in storage too.
    for (const r of newlyResolved) {
      this.events.emit(`image:${r.imageId}`, r);
      this.events.emit(`batch:${batchId}`, r);
      this.events.emit('result', r);
    }
  }

  image(imageId: string): ImageRecord | undefined {
    return this.images.get(imageId);
  }

  batch(batchId: string): { batchId: string; images: ImageRecord[]; pending: number } | undefined {
    const b = this.batches.get(batchId);
    if (!b) return undefined;
    return { batchId, images: b.imageIds.map((id) => this.images.get(id)).filter((r): r is ImageRecord => !!r), pending: b.pending };
  }

  /**
   * Applies a result from the output queue. Returns the updated record, or
   * `duplicate` when the image already had a result.
   */
  applyResult(msg: OutputMessage): { record: ImageRecord; duplicate: boolean } {
    const known = this.images.get(msg.imageId);
    if (known && known.status !== 'queued') return { record: known, duplicate: true };
    const record: ImageRecord = {
      imageId: msg.imageId,
      batchId: known?.batchId ?? msg.batchId,
      fileName: known?.fileName ?? msg.fileName,
      inputKey: known?.inputKey,
      uploadedAt: known?.uploadedAt,
      status: msg.status === 'ok' ? 'done' : 'error',
      result: msg,
      unconfirmed: known ? undefined : true,
    };
    this.images.set(record.imageId, record);
    let batch = this.batches.get(record.batchId);
    if (!batch) {
      // A result of an upload this process did not take (another instance, or
      // before a restart): remember what we learn, but the batch's list of
      // images may be incomplete.
      batch = newBatch(record.batchId, false);
      this.batches.set(record.batchId, batch);
    }
    if (!batch.imageIds.includes(record.imageId)) batch.imageIds.push(record.imageId);
    else if (known) batch.pending--;
    this.evict();
    this.events.emit(`image:${record.imageId}`, record);
    this.events.emit(`batch:${record.batchId}`, record);
    this.events.emit('result', record);
    return { record, duplicate: false };
  }

  /**
   * Settles an unconfirmed result with what the output bucket holds: the
   * bucket's result replaces it when they differ. Returns the record.
   */
  confirm(imageId: string, stored: OutputMessage | undefined): ImageRecord | undefined {
    const r = this.images.get(imageId);
    if (!r?.unconfirmed) return r;
    const confirmed: ImageRecord = stored
      ? { ...r, result: stored, status: stored.status === 'ok' ? 'done' : 'error', unconfirmed: undefined }
      : { ...r, unconfirmed: undefined };
    this.images.set(imageId, confirmed);
    return confirmed;
  }

  /**
   * Up to `max` images still queued that were uploaded (or last checked)
   * before `olderThan`, oldest check first, marked as checked now: for the
   * look-up of results written but never announced.
   */
  takeStaleQueued(olderThan: number, max: number): ImageRecord[] {
    const stale: ImageRecord[] = [];
    for (const r of this.images.values()) {
      if (r.status === 'queued' && (r.checkedAt ?? r.uploadedAt ?? 0) < olderThan) stale.push(r);
    }
    stale.sort((a, b) => (a.checkedAt ?? a.uploadedAt ?? 0) - (b.checkedAt ?? b.uploadedAt ?? 0));
    const now = Date.now();
    const picked = stale.slice(0, max);
    for (const r of picked) r.checkedAt = now;
    return picked;
  }

  isBatchComplete(batchId: string): boolean {
    return this.batches.get(batchId)?.complete ?? false;
  }

  /** Calls `listener` for each later result of the batch; returns the unsubscribe function. */
  onBatchResult(batchId: string, listener: (r: ImageRecord) => void): () => void {
    this.events.on(`batch:${batchId}`, listener);
    return () => this.events.off(`batch:${batchId}`, listener);
  }

  /** Calls `listener` for each later result of any batch (e.g. to notice a batch finishing); returns the unsubscribe function. */
  onResult(listener: (r: ImageRecord) => void): () => void {
    this.events.on('result', listener);
    return () => this.events.off('result', listener);
  }

  /** Calls `listener` once when the process starts shutting down. */
  onShutdown(listener: () => void): () => void {
    this.events.once('shutdown', listener);
    return () => this.events.off('shutdown', listener);
  }

  /**
   * Resolves with the image's record once it has a result; rejects with
   * ResultTimeoutError after timeoutMs, ShuttingDownError on shutdown, or the
   * signal's reason when aborted (the client went away).
   */
  waitForResult(imageId: string, timeoutMs: number, signal?: AbortSignal): Promise<ImageRecord> {
    const now = this.images.get(imageId);
    if (now && now.status !== 'queued') return Promise.resolve(now);
    if (this.closing) return Promise.reject(new ShuttingDownError('the web tier is shutting down'));
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off(`image:${imageId}`, onResult);
        this.events.off('shutdown', onShutdown);
        signal?.removeEventListener('abort', onAbort);
      };
      const onResult = (r: ImageRecord) => {
        cleanup();
        resolve(r);
      };
      const onShutdown = () => {
        cleanup();
        reject(new ShuttingDownError('the web tier is shutting down'));
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new ResultTimeoutError(`no result within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.events.on(`image:${imageId}`, onResult);
      this.events.once('shutdown', onShutdown);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Releases every waiter and stream: the HTTP server cannot close while they hold connections. */
  shutdown(): void {
    this.closing = true;
    this.events.emit('shutdown');
  }

  get size(): number {
    return this.images.size;
  }

  /** Drops the oldest batches until under the limit: finished ones first, then any. */
  private evict(): void {
    for (const finishedOnly of [true, false]) {
      for (const [id, b] of this.batches) {
        if (this.images.size <= this.limit) return;
        if (finishedOnly && b.pending > 0) continue;
        for (const imageId of b.imageIds) this.images.delete(imageId);
        this.batches.delete(id);
      }
    }
  }
}
