/** The web tier's HTTP API shapes, as its OpenAPI document (apps/web-tier/openapi.json) describes them. */

export interface Prediction {
  label: string;
  classIndex: number;
  confidence: number;
}

export interface ImageResult {
  imageId: string;
  batchId: string;
  fileName: string;
  status: 'queued' | 'done' | 'error';
  /** Presigned URL of the stored image. */
  url?: string;
  label?: string;
  confidence?: number;
  /** The model's five best labels, best first. */
  top5?: Prediction[];
  /** Which try produced the result (1 = first). */
  attempts?: number;
  producedBy?: string;
  completedAt?: string;
  error?: { reason: string; permanent: boolean };
}

/** A batch without its images (creation, list entries). */
export interface BatchSummary {
  batchId: string;
  label?: string;
  callbackUrl?: string;
  createdAt?: string;
  closed?: boolean;
  total: number;
  done: number;
  failed: number;
  queued: number;
  finished: boolean;
}

export interface Batch extends BatchSummary {
  images: ImageResult[];
}

export interface BatchPage {
  batches: BatchSummary[];
  nextCursor?: string;
}

export interface NewBatch {
  callbackUrl?: string;
  label?: string;
}

export interface UploadedImage {
  imageId: string;
  fileName: string;
  status: 'queued';
  url: string;
}

export interface UploadAnswer {
  batchId: string;
  images: UploadedImage[];
  /** Files not accepted because storage or the queue failed (partial success only). */
  failed?: { fileName: string; reason: string; cleanedUp?: boolean }[];
}

/** The `done` event's data: the batch's final counts. */
export interface BatchDone {
  batchId: string;
  total: number;
  done: number;
  failed: number;
}

export type BatchEvent = { type: 'result'; result: ImageResult; id?: string } | { type: 'done'; summary: BatchDone };

interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface ServiceStatus {
  workers: { running: number; free: number; pending: number } | null;
  queues: { launch: QueueDepth | null; monitor: QueueDepth | null; output: QueueDepth | null };
  updatedAt: string;
}

export type ExportFormat = 'csv' | 'json';

/** A file to upload: a name (shown only; the server never uses it as a key) and its bytes. */
export interface UploadFile {
  name: string;
  data: Blob;
}
