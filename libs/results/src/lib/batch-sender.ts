import { AwsAdapterError, SQS_BATCH_LIMIT, type BatchFailure, type MessageSink, type Queue } from '@app/aws';

export interface BatchOptions {
  /** Tries per entry in all (default 3). */
  maxTries?: number;
  /**
   * How long the first entry of a batch waits for company, ms (default 0: until the
   * current turn of the event loop ends, so that everything one turn asks for goes in
   * one call). A batch fills up at once when ten are waiting.
   */
  lingerMs?: number;
  /**
   * Whether more entries may come to share the lingering call, told how many the
   * sender holds (waiting, or in the call being made). When it says no, the
   * batch goes at once: the last results of a burst do not wait out `lingerMs`.
   */
  expectMore?: (held: number) => boolean;
}

interface Pending<E> {
  entry: E;
  tries: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** What one batch call said of an entry it did not take: why, and whether another try may work. */
interface Refusal {
  reason: string;
  retry: boolean;
}

/**
 * Turns single requests into batch calls of up to ten: what arrives in one turn
 * of the event loop (or within `lingerMs`) goes in one call, whatever arrives
 * while a call is in flight goes in the next. Each caller learns the fate of its
 * own entry. An entry refused for a passing reason is tried again (`maxTries`
 * in all); one refused for its own fault (a sender fault) is not.
 */
class Batcher<E> {
  private readonly pending: Pending<E>[] = [];
  /** Entries in the call being made. */
  private inCall = 0;
  private sending?: Promise<void>;
  private wake?: () => void;

  constructor(
    private readonly call: (entries: E[]) => Promise<Map<number, Refusal>>,
    private readonly options: BatchOptions,
  ) {}

  add(entry: E): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, tries: 0, resolve, reject });
      if (this.pending.length >= SQS_BATCH_LIMIT || !this.moreMayCome()) this.wake?.();
      this.sending ??= this.loop().finally(() => (this.sending = undefined));
    });
  }

  /** Resolves when nothing is pending. */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private moreMayCome(): boolean {
    return this.options.expectMore?.(this.pending.length + this.inCall) ?? true;
  }

  private linger(): Promise<void> {
    const ms = this.moreMayCome() ? (this.options.lingerMs ?? 0) : 0;
    return new Promise((resolve) => {
      const timer = ms > 0 ? setTimeout(() => this.woken(resolve), ms) : undefined;
      const immediate = ms > 0 ? undefined : setImmediate(() => this.woken(resolve));
      this.wake = () => {
        clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
        this.woken(resolve);
      };
    });
  }

  private woken(resolve: () => void): void {
    this.wake = undefined;
    resolve();
  }

  private async loop(): Promise<void> {
    if (this.pending.length < SQS_BATCH_LIMIT) await this.linger();
    const maxTries = this.options.maxTries ?? 3;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, SQS_BATCH_LIMIT);
      batch.forEach((p) => p.tries++);
      let refused: Map<number, Refusal>;
      this.inCall = batch.length;
      try {
        refused = await this.call(batch.map((p) => p.entry));
      } catch (err) {
        const retry = !(err instanceof AwsAdapterError) || err.retryable;
        refused = new Map(batch.map((_, i) => [i, { reason: (err as Error).message, retry }]));
      } finally {
        this.inCall = 0;
      }
      batch.forEach((p, i) => {
        const r = refused.get(i);
        if (r === undefined) p.resolve();
        else if (r.retry && p.tries < maxTries) this.pending.push(p);
        else p.reject(new Error(`not done after ${p.tries} ${p.tries === 1 ? 'try' : 'tries'}: ${r.reason}`));
      });
    }
  }
}

const byIndex = (failures: BatchFailure[], index: (f: BatchFailure) => number) =>
  new Map(failures.map((f) => [index(f), { reason: `${f.code}: ${f.message}`, retry: !f.senderFault }]));

/**
 * Sends messages to one queue (SendMessageBatch) or topic (PublishBatch) in batch calls (see Batcher): ten
 * messages per call when load is heavy, no wait worth noticing when it is light.
 */
export class BatchSender {
  private readonly batcher: Batcher<{ body: string; delaySeconds?: number; messageGroupId?: string }>;

  constructor(queue: MessageSink, options: BatchOptions = {}) {
    this.batcher = new Batcher(async (entries) => {
      const failures = await queue.sendBatch(entries.map((e, i) => ({ id: String(i), body: e.body, delaySeconds: e.delaySeconds, messageGroupId: e.messageGroupId })));
      return byIndex(failures, (f) => Number(f.id));
    }, options);
  }

  /** Resolves once sent; rejects after the last refused try. `messageGroupId`: the tenant, on a fair queue. */
  send(body: string, delaySeconds?: number, messageGroupId?: string): Promise<void> {
    return this.batcher.add({ body, delaySeconds, messageGroupId });
  }

  /** Resolves when nothing is pending. */
  idle(): Promise<void> {
    return this.batcher.idle();
  }
}

/** Deletes received messages of one queue in DeleteMessageBatch calls (see Batcher). */
export class BatchDeleter {
  private readonly batcher: Batcher<string>;

  constructor(queue: Queue, options: BatchOptions = {}) {
    this.batcher = new Batcher(async (handles) => {
      const failures = await queue.deleteBatch(handles);
      // deleteBatch names a failed entry by its receipt handle.
      return byIndex(failures, (f) => handles.indexOf(f.id));
    }, options);
  }

  /** Resolves once deleted; rejects when it cannot be (the message then comes back, and is done again). */
  delete(receiptHandle: string): Promise<void> {
    return this.batcher.add(receiptHandle);
  }

  idle(): Promise<void> {
    return this.batcher.idle();
  }
}
