import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type UploadMode = 'api' | 'classic';

/**
 * The web tier's Prometheus metrics, on a registry of its own (not prom-client's
 * global one) so that several app instances in one process stay apart.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /** Images accepted (stored and enqueued), refused (4xx) or failed (storage/queue). */
  readonly uploads = new Counter({
    name: 'ics_web_uploads_total',
    help: 'Images received by the web tier, by mode and outcome',
    labelNames: ['mode', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly uploadBytes = new Counter({
    name: 'ics_web_upload_bytes_total',
    help: 'Bytes of images accepted',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });

  readonly results = new Counter({
    name: 'ics_web_results_total',
    help: 'Results taken from the output queue, by status (ok, error, duplicate, invalid), and results found only in the output bucket (from_bucket)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly webhookAttempts = new Counter({
    name: 'ics_web_webhook_attempts_total',
    help: 'Webhook delivery attempts handled, by outcome (delivered, duplicate, retry-scheduled, given-up, invalid)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: 'ics_web_result_latency_seconds',
    help: 'End-to-end time from an upload being accepted to its result reaching the web tier',
    labelNames: ['status'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });

  readonly classicWaiting = new Counter({
    name: 'ics_web_classic_answers_total',
    help: 'Classic POST / requests answered, by outcome (label, error, timeout, gone)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly uploadBufferedBytes = new Gauge({
    name: 'ics_web_upload_buffered_bytes',
    help: 'Upload bytes held in memory now (each request holds at most one file\'s worth)',
    registers: [this.registry],
  });

  readonly uploadBufferedPeakBytes = new Gauge({
    name: 'ics_web_upload_buffered_peak_bytes',
    help: 'Most upload bytes held in memory at once since start',
    registers: [this.registry],
  });

  readonly uploadReservedBytes = new Gauge({
    name: 'ics_web_upload_reserved_bytes',
    help: 'Upload bytes reserved by requests in progress (at most UPLOAD_MAX_BYTES_IN_FLIGHT)',
    registers: [this.registry],
  });

  readonly uploadsBusy = new Counter({
    name: 'ics_web_uploads_busy_total',
    help: 'Upload requests refused with 503 because UPLOAD_MAX_BYTES_IN_FLIGHT was reached',
    registers: [this.registry],
  });

  readonly uploadsTooSlow = new Counter({
    name: 'ics_web_uploads_too_slow_total',
    help: 'Upload bodies cut with 408: slower than UPLOAD_MIN_BYTES_PER_SECOND over a window',
    registers: [this.registry],
  });

  readonly clientLimited = new Counter({
    name: 'ics_web_client_limited_total',
    help: 'Requests refused with 429 by a cap on what clients hold open, by what (uploads, waiting) and scope (address, tenant, all)',
    labelNames: ['what', 'scope'] as const,
    registers: [this.registry],
  });

  readonly sseStreams = new Gauge({
    name: 'ics_web_sse_streams',
    help: 'Event streams open now',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ics_web_' });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
