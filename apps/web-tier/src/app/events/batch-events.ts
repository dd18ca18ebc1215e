import { Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import type { Response } from 'express';
import type { IndexedBatch } from '../batches/batch-index';
import { BatchFinished } from '../batches/batch-finished';
import { MetricsService } from '../ops/metrics.service';
import { batchSummary, ResultsService } from '../results/results.service';
import { ResultsStore, type ImageRecord } from '../results/results.store';

/** How soon a client should reconnect after the stream ends without `done` (ms). */
const RETRY_MS = 1_000;

/** `<logId>.<n>`: the client has seen the first n entries of that log. */
function parseLastEventId(value: string | undefined): { logId: string; seen: number } | undefined {
  const m = /^([A-Za-z0-9_-]{1,32})\.(\d{1,9})$/.exec(value ?? '');
  return m ? { logId: m[1], seen: Number(m[2]) } : undefined;
}

/**
 * A batch's results as server-sent events. Each `result` event carries the
 * id `<logId>.<n>` (its place in the batch's result log), so a client that
 * reconnects with `Last-Event-ID` is sent only what it missed (everything,
 * when the log is not the one it saw: another process, or a batch rebuilt).
 * Comment lines every SSE_HEARTBEAT_SECONDS keep proxies from closing an
 * idle stream; after SSE_MAX_LIFETIME_SECONDS the stream ends (no `done`) and
 * the client reconnects, so no stream holds a connection and its listeners
 * for ever. `done` comes once every image has its result, then the end.
 */
@Injectable()
export class BatchEvents {
  constructor(
    private readonly store: ResultsStore,
    private readonly results: ResultsService,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
    private readonly finishedBatches: BatchFinished,
  ) {}

  /**
   * Streams the batch's results. `done` comes only for a closed batch: an open
   * one may still get images, so its stream ends at its lifetime and the
   * client reconnects (and sees the images added since).
   */
  async stream(indexed: IndexedBatch, lastEventId: string | undefined, res: Response): Promise<void> {
    const batchId = indexed.meta.batchId;
    let pump = () => undefined as void;
    // Subscribe before reading the snapshot so that no result falls in between.
    const unsubscribe = this.store.onBatchResult(batchId, () => pump());
    let records: ImageRecord[];
    try {
      records = await this.results.batchRecords(indexed);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    const ids = new Set(records.map((r) => r.imageId));
    // Read after the snapshot: batchRecords may have rebuilt the batch (and its log).
    const log = this.store.batchLog(batchId) ?? { logId: 'snapshot', imageIds: records.filter((r) => r.status !== 'queued').map((r) => r.imageId) };
    const last = parseLastEventId(lastEventId);
    let cursor = last && last.logId === log.logId ? Math.min(last.seen, log.imageIds.length) : 0;

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.metrics.sseStreams.inc();

    let closed = false;
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), this.config.web.sseHeartbeatSeconds * 1000);
    const lifetime = setTimeout(() => finish(), this.config.web.sseMaxLifetimeSeconds * 1000);
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearTimeout(lifetime);
      unsubscribe();
      stopOnShutdown();
      this.metrics.sseStreams.dec();
      res.end();
    };
    const stopOnShutdown = this.store.onShutdown(finish);
    res.on('close', finish);

    const finished = () => [...ids].filter((id) => this.store.image(id)?.status !== 'queued' && this.store.image(id) !== undefined);
    let sending = Promise.resolve();
    let doneSent = false;
    pump = () => {
      // DTOs are built asynchronously (presigned URLs): chain the writes to keep events in order.
      sending = sending.then(async () => {
        while (!closed && cursor < log.imageIds.length) {
          const imageId = log.imageIds[cursor++];
          const record = this.store.image(imageId);
          if (!ids.has(imageId) || !record || record.status === 'queued') continue;
          const dto = await this.results.toDto(record);
          if (closed) return;
          res.write(`event: result\nid: ${log.logId}.${cursor}\ndata: ${JSON.stringify(dto)}\n\n`);
        }
        const results = finished();
        if (closed || doneSent || results.length < ids.size || !indexed.meta.closed) return;
        doneSent = true;
        this.finishedBatches.announce(indexed.meta.tenant, batchSummary(indexed.meta, records.map((r) => this.store.image(r.imageId) ?? r)));
        const failed = results.filter((id) => this.store.image(id)?.status === 'error').length;
        res.write(`event: done\ndata: ${JSON.stringify({ batchId, total: ids.size, done: results.length - failed, failed })}\n\n`);
        finish();
      });
    };
    pump();
  }
}
