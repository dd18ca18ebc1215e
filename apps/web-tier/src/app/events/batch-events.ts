import { Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import type { Response } from 'express';
import type { IndexedBatch } from '../batches/batch-index';
import { BatchFinished } from '../batches/batch-finished';
import { BackpressuredWriter } from '../common/backpressured-writer';
import { MetricsService } from '../ops/metrics.service';
import { batchSummary, ResultsService } from '../results/results.service';
import { ResultsStore, type ImageRecord } from '../results/results.store';
import { SeenPlaces } from './seen-places';

/** How soon a client should reconnect after the stream ends without `done` (ms). */
const RETRY_MS = 1_000;

/**
 * A batch's results as server-sent events. Each `result` event's id names
 * every image of the batch the client has been sent so far (SeenPlaces, by
 * place in the batch index), so a client that reconnects with
 * `Last-Event-ID`, to this tier or any other, is sent exactly what it missed.
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
    const places = new Map(indexed.images.map((image, place) => [image.imageId, place]));
    const seen = SeenPlaces.parse(lastEventId, indexed.images.length);
    /** Images to send when they have a result and the client has not had it: the snapshot, then arrivals. */
    const toSend: string[] = [];
    let pump = () => undefined as void;
    // Subscribe before reading the snapshot so that no result falls in between.
    const unsubscribe = this.store.onBatchResult(batchId, (r) => {
      toSend.push(r.imageId);
      pump();
    });
    let records: ImageRecord[];
    try {
      records = await this.results.batchRecords(indexed);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    const ids = new Set(records.map((r) => r.imageId));
    const snapshot = new Map(records.map((r) => [r.imageId, r]));
    // Results known now first, in the batch's order.
    toSend.unshift(...records.map((r) => r.imageId));

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
    // At the reader's pace: a reader whose buffer stays full for SSE_DRAIN_TIMEOUT_SECONDS is dropped.
    const out = new BackpressuredWriter(res, this.config.web.sseDrainTimeoutSeconds * 1000);
    const heartbeat = setInterval(() => {
      // A full buffer already keeps the connection busy: no comment piles up behind it.
      if (!out.full) res.write(': keep-alive\n\n');
    }, this.config.web.sseHeartbeatSeconds * 1000);
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
    let next = 0;
    let doneSent = false;
    pump = () => {
      // DTOs are built asynchronously (presigned URLs): chain the writes to keep events in order.
      sending = sending.then(async () => {
        while (!closed && next < toSend.length) {
          const imageId = toSend[next++];
          const place = places.get(imageId);
          if (place === undefined || seen.has(place)) continue;
          const record = this.store.image(imageId) ?? snapshot.get(imageId);
          if (!record || record.status === 'queued') continue;
          const dto = await this.results.toDto(record);
          if (closed) return;
          seen.add(place);
          await out.write(`event: result\nid: ${seen}\ndata: ${JSON.stringify(dto)}\n\n`);
        }
        const results = finished();
        if (closed || doneSent || results.length < ids.size || !indexed.meta.closed) return;
        doneSent = true;
        this.finishedBatches.announce(indexed.meta.tenant, batchSummary(indexed.meta, records.map((r) => this.store.image(r.imageId) ?? r)));
        const failed = results.filter((id) => this.store.image(id)?.status === 'error').length;
        await out.write(`event: done\ndata: ${JSON.stringify({ batchId, total: ids.size, done: results.length - failed, failed })}\n\n`);
        finish();
      });
    };
    pump();
  }
}
