import type { LaunchMessage } from '@app/contracts';

/** Where one image's time went, in milliseconds. */
export interface StageTimings {
  /** The upload's enqueuedAt to its launch message sent (SentTimestamp): the web tier storing the image. */
  store?: number;
  /** Launch message sent to received by this worker: waiting in the launch queue. */
  queue?: number;
  /** Received to a place in the prefetch budget. */
  room?: number;
  claim?: number;
  /** Claimed to a place between the bucket and the model (TenantTurns). */
  turn?: number;
  download?: number;
  decode?: number;
  infer?: number;
  /** The image's share of the CPU time of the model's runs (not wall time: the model's own work). */
  modelCpu?: number;
  /** Decoded to the model's answer, less the model's own time: waiting behind other images for the model. */
  modelWait?: number;
  batchSize?: number;
  publish?: number;
}

/** One claimed image on its way through the stages. */
export interface Job {
  msg: LaunchMessage;
  receiveCount: number;
  /** performance.now() when it was received. */
  receivedAt: number;
  /** Launch messages this worker held (received, not yet finished) when this one arrived. */
  heldAtReceive?: number;
  t: StageTimings;
}

/** The image itself is the problem (missing, not an image): answered at once with an error result. */
export class PermanentImageError extends Error {
  override readonly name = 'PermanentImageError';
}

/** Not the image's fault and may pass (storage unreachable, throttled): the image is handed back. */
export class TransientImageError extends Error {
  override readonly name = 'TransientImageError';
}

/** The model itself broke: this worker can classify nothing more. */
export class ModelBrokenError extends Error {
  override readonly name = 'ModelBrokenError';
}

/** This take of the image, as the heartbeat lists it. */
export const ref = (job: Job) => ({ imageId: job.msg.imageId, attempt: job.msg.attempt, handBacks: job.msg.handBacks ?? 0 });
