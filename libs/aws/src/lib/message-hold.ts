import type { Queue, ReceivedMessage } from './queue';
import type { HoldTiming } from './queue-consumer-options';

/**
 * One received message while its handler holds it: kept hidden from other
 * receives by heartbeats (its visibility set back to the full timeout every
 * heartbeatSeconds), and given up once the handler has held it for
 * handlerTimeoutSeconds without settling it. Settling (ack, release, or the
 * handler finishing) stops both; so does expiry, which happens at most once and
 * only to a message not settled before.
 */
export class MessageHold {
  private done = false;
  private readonly heartbeat?: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout;
  private onExpiry!: () => void;
  /** Resolves if the handler timeout passes first (the message is then settled as abandoned). */
  readonly expired = new Promise<void>((resolve) => (this.onExpiry = resolve));

  constructor(
    queue: Queue,
    message: ReceivedMessage,
    timing: HoldTiming,
    onHeartbeatFailed: (error: Error) => void,
  ) {
    const { visibilityTimeoutSeconds: visibility, heartbeatSeconds, handlerTimeoutSeconds } = timing;
    if (heartbeatSeconds > 0 && visibility !== undefined) {
      this.heartbeat = setInterval(() => {
        if (this.done) return;
        queue.changeVisibility(message.receiptHandle, visibility).catch((err: unknown) => onHeartbeatFailed(err instanceof Error ? err : new Error(String(err))));
      }, heartbeatSeconds * 1000);
      this.heartbeat.unref();
    }
    this.deadline = setTimeout(() => {
      if (!this.settle()) return;
      this.onExpiry();
    }, handlerTimeoutSeconds * 1000);
    this.deadline.unref();
  }

  /** Whether the message's fate is decided (settled by the handler, or abandoned). */
  get settled(): boolean {
    return this.done;
  }

  /** Decides the message's fate: true the first time (the caller then acts on it), false once decided. */
  settle(): boolean {
    if (this.done) return false;
    this.done = true;
    this.stop();
    return true;
  }

  /** Stops the heartbeats and the deadline without deciding (the handler ended and left the message as it is). */
  stop(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.deadline);
  }
}
