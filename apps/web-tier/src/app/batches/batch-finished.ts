import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { BatchSummaryDto } from './batches.dto';

/** How many finished batches a tier remembers having announced (so a batch is announced once per tier, not once per read). */
const REMEMBERED = 10_000;

export interface BatchFinishedEvent {
  tenant: string;
  batch: BatchSummaryDto;
}

/**
 * The seam for whatever must happen when a batch finishes (closed, every
 * image answered): a listener hears each batch once per tier, when this tier
 * first sees it finished (a read, a close, an event stream's end). Not a
 * durable record: a listener that must act exactly once (a webhook) keeps its
 * own record of having acted.
 */
@Injectable()
export class BatchFinished {
  private readonly events = new EventEmitter();
  private readonly announced = new Set<string>();

  onFinished(listener: (e: BatchFinishedEvent) => void): () => void {
    this.events.on('finished', listener);
    return () => this.events.off('finished', listener);
  }

  announce(tenant: string, batch: BatchSummaryDto): void {
    if (!batch.finished || this.announced.has(batch.batchId)) return;
    this.announced.add(batch.batchId);
    if (this.announced.size > REMEMBERED) this.announced.delete(this.announced.values().next().value as string);
    const { batchId, label, callbackUrl, createdAt, closed, total, done, failed, queued, finished } = batch;
    this.events.emit('finished', { tenant, batch: { batchId, label, callbackUrl, createdAt, closed, total, done, failed, queued, finished } });
  }
}
