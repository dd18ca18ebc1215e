import type { Queue } from '@app/aws';
import { SQS_BATCH_LIMIT } from '@app/aws';

interface Pending {
  body: string;
  delaySeconds?: number;
  tries: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Sends messages to one queue in batches of up to ten without ever waiting to
 * fill one: a send goes out at once when the queue is idle, and whatever
 * arrives while a batch is in flight goes in the next. Low latency when load
 * is light, ten messages per call when it is heavy. Refused entries are
 * retried (three tries in all).
 */
export class BatchSender {
  private readonly pending: Pending[] = [];
  private sending?: Promise<void>;

  constructor(
    private readonly queue: Queue,
    private readonly maxTries = 3,
  ) {}

  /** Resolves once sent; rejects after the last refused try. */
  send(body: string, delaySeconds?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ body, delaySeconds, tries: 0, resolve, reject });
      this.sending ??= this.loop().finally(() => (this.sending = undefined));
    });
  }

  /** Resolves when nothing is pending. */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async loop(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, SQS_BATCH_LIMIT);
      batch.forEach((p) => p.tries++);
      let failed: Map<string, string>;
      try {
        const failures = await this.queue.sendBatch(batch.map((p, i) => ({ id: String(i), body: p.body, delaySeconds: p.delaySeconds })));
        failed = new Map(failures.map((f) => [f.id, `${f.code}: ${f.message}`]));
      } catch (err) {
        failed = new Map(batch.map((_, i) => [String(i), (err as Error).message]));
      }
      batch.forEach((p, i) => {
        const reason = failed.get(String(i));
        if (reason === undefined) p.resolve();
        else if (p.tries < this.maxTries) this.pending.push(p);
        else p.reject(new Error(`not sent after ${p.tries} tries: ${reason}`));
      });
    }
  }
}
