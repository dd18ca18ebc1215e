import type { Logger } from '@nestjs/common';
import type { Queue, ReceivedMessage } from '@app/aws';

/**
 * Receives from one queue until stopped, handing each message to `handle` and
 * deleting it when `handle` resolves; a message whose handling throws is left
 * for redelivery. The loop outlives any outage: a failed receive is logged and
 * retried after a pause.
 */
export class PollLoop {
  private readonly abort = new AbortController();
  private running?: Promise<void>;

  constructor(
    private readonly queue: Queue,
    private readonly handle: (body: string) => Promise<string>,
    private readonly logger: Logger,
    private readonly onHandled: (outcome: string) => void = () => undefined,
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        const messages = await this.queue.receive({ maxMessages: 10, waitSeconds: 20, abortSignal: this.abort.signal });
        await Promise.all(messages.map((m) => this.process(m)));
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.logger.warn(`poll of ${this.queue.url} failed, retrying: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Handles one received message and deletes it once handled; on a failure it stays for redelivery. */
  async process(m: ReceivedMessage): Promise<string | undefined> {
    try {
      const outcome = await this.handle(m.body);
      await this.queue.delete(m.receiptHandle);
      this.onHandled(outcome);
      return outcome;
    } catch (err) {
      this.logger.error(`message ${m.messageId} from ${this.queue.url} failed, it will be redelivered: ${(err as Error).message}`);
      return undefined;
    }
  }
}
