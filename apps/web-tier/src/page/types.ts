/** The API's shapes as the page reads them (see the Swagger document at /docs). */
export interface ImageResult {
  imageId: string;
  batchId: string;
  fileName: string;
  status: 'queued' | 'done' | 'error';
  url?: string;
  label?: string;
  confidence?: number;
  /** The model's five best labels, best first. */
  top5?: { label: string; classIndex: number; confidence: number }[];
  attempts?: number;
  error?: { reason: string; permanent: boolean };
}

export interface UploadAnswer {
  batchId: string;
  images: { imageId: string; fileName: string; status: 'queued'; url: string }[];
  failed?: { fileName: string; reason: string }[];
}

interface Depth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface Status {
  workers: { running: number; free: number; pending: number } | null;
  queues: { launch: Depth | null; monitor: Depth | null; output: Depth | null };
  updatedAt: string;
}
