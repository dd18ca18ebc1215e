import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type LoggerService } from '@nestjs/common';
import { AwsAdapterError } from './errors';
import { MessageHold } from './message-hold';
import { SQS_BATCH_LIMIT, type Queue, type QueueConsumerHealth, type ReceivedMessage } from './queue';
import {
  checkConsumerOptions,
  holdTiming,
  type ConsumerHealth,
  type ConsumerState,
  type ConsumerStatus,
  type HoldTiming,
  type MessageContext,
  type MessageHandler,
  type QueueConsumerOptions,
} from './queue-consumer-options';

/** The events, one per state change and per message settled. */
export interface ConsumerEvents<T> {
  started: [];
  stopped: [];
  /** A receive failed; the loop pauses `retryInMs` and tries again. */
  backing_off: [error: Error, retryInMs: number, failures: number];
  /** A receive succeeded again after `failures` failed ones over `downMs`. */
  recovered: [downMs: number, failures: number];
  message_handled: [message: ReceivedMessage, outcome: T];
  /** The handler threw: the message is left for SQS to redeliver (or dead-letter). */
  handler_failed: [message: ReceivedMessage, error: Error];
  /** The handler held the message past handlerTimeoutSeconds: let go of, the message visible again for another receive. */
  handler_abandoned: [message: ReceivedMessage];
  /** Handled, but the delete failed: SQS will deliver it again (handlers are idempotent). */
  delete_failed: [message: ReceivedMessage, error: Error];
  heartbeat_failed: [message: ReceivedMessage, error: Error];
}

interface ResolvedOptions<T> {
  queue: Queue;
  handleMessage: MessageHandler<T>;
  batchSize: number;
  maxInFlight: number;
  waitSeconds: number;
  timing: HoldTiming;
  deleteAfterHandling: boolean;
  backoff: { initialMs: number; maxMs: number };
}

/**
 * One SQS consumer loop, in the manner of bbc/sqs-consumer: long polls a queue,
 * hands each message to `handleMessage`, deletes it when the handler resolves and
 * leaves it for redelivery when it throws. While a handler holds a message the
 * consumer keeps it hidden (heartbeats at half the visibility timeout), and a
 * handler that holds it past handlerTimeoutSeconds is abandoned: its message is
 * visible again at once, and its place goes to the next message (a hung call
 * cannot hold a message, or the consumer, for ever). It never dies on an error: a failed
 * receive is logged, backed off (exponential, with jitter) and retried until it
 * works again. `stop()` ends the poll and waits for the handlers in flight.
 *
 * Why not sqs-consumer itself: it long-polls with MaxNumberOfMessages = batchSize,
 * which local-aws-sqs holds until it has that many messages (up to the whole wait,
 * 20 s) — every local result would wait. Queue.receive already takes a batch with
 * a short poll and long-polls an empty queue for one, the same result on real SQS.
 */
export class QueueConsumer<T = unknown> extends EventEmitter<ConsumerEvents<T>> implements QueueConsumerHealth {
  readonly name: string;
  private readonly options: ResolvedOptions<T>;
  private readonly logger: LoggerService;
  private readonly inFlight = new Set<Promise<void>>();
  private state: ConsumerState = 'created';
  private running?: Promise<void>;
  private pollAbort = new AbortController();
  private pauseAbort = new AbortController();
  private wakeUp?: () => void;
  private handled = 0;
  private failed = 0;
  private abandoned = 0;
  private failures = 0;
  private failingSince?: Date;
  private lastError?: string;
  private lastProgressAt?: Date;

  constructor(options: QueueConsumerOptions<T>) {
    super();
    checkConsumerOptions(options);
    this.name = options.name ?? options.queue.url.split('/').pop() ?? options.queue.url;
    this.logger = options.logger ?? new Logger(QueueConsumer.name);
    const batchSize = options.batchSize ?? SQS_BATCH_LIMIT;
    this.options = {
      queue: options.queue,
      handleMessage: options.handleMessage,
      batchSize,
      maxInFlight: options.maxInFlight ?? batchSize,
      waitSeconds: options.waitSeconds ?? 20,
      timing: holdTiming(options),
      deleteAfterHandling: options.deleteAfterHandling ?? true,
      backoff: { initialMs: options.backoff?.initialMs ?? 250, maxMs: options.backoff?.maxMs ?? 5_000 },
    };
  }

  get queue(): Queue {
    return this.options.queue;
  }

  get status(): ConsumerStatus {
    return {
      state: this.state,
      inFlight: this.inFlight.size,
      handled: this.handled,
      failed: this.failed,
      abandoned: this.abandoned,
      failingSince: this.failingSince,
      lastError: this.lastError,
      lastProgressAt: this.lastProgressAt,
    };
  }

  /**
   * Healthy while it runs, its receives work (or have failed for less than
   * `unhealthyAfterMs`), and it makes progress: a receive or a handler completes
   * at least every `unhealthyAfterMs` plus one long poll.
   */
  health(unhealthyAfterMs: number, now = Date.now()): ConsumerHealth {
    const s = this.status;
    if (s.state === 'created' || s.state === 'stopping' || s.state === 'stopped') {
      return { healthy: false, reason: `consumer of ${this.name} is ${s.state}`, status: s };
    }
    if (s.failingSince && now - s.failingSince.getTime() > unhealthyAfterMs) {
      const secs = Math.round((now - s.failingSince.getTime()) / 1000);
      return { healthy: false, reason: `receives from ${this.name} failing for ${secs} s: ${s.lastError}`, status: s };
    }
    const stallMs = unhealthyAfterMs + this.options.waitSeconds * 1000;
    if (s.lastProgressAt && now - s.lastProgressAt.getTime() > stallMs) {
      const secs = Math.round((now - s.lastProgressAt.getTime()) / 1000);
      return { healthy: false, reason: `consumer of ${this.name} made no progress for ${secs} s (${s.inFlight} handlers running)`, status: s };
    }
    return { healthy: true, status: s };
  }

  /** Starts the loop; does nothing while it runs. A stopped consumer starts again. */
  start(): void {
    if (this.state !== 'created' && this.state !== 'stopped') return;
    this.pollAbort = new AbortController();
    this.pauseAbort = new AbortController();
    this.state = 'running';
    this.lastProgressAt = new Date();
    this.logger.log(`${this.name}: consuming ${this.queue.url} (batch ${this.options.batchSize}, in flight ≤ ${this.options.maxInFlight}, wait ${this.options.waitSeconds} s)`);
    this.queue.consumers.add(this);
    this.emit('started');
    this.running = this.run();
  }

  /**
   * Ends the poll in progress, waits for the handlers in flight, and resolves once stopped.
   * `finishReceive`: the receive in progress is left to end on its own (up to its wait),
   * and what it brings goes to the handler like any message. Cutting it short is quicker,
   * but SQS goes on answering a poll whose client has gone: whatever arrives meanwhile is
   * taken and hidden for its visibility timeout (messages this process sends back itself
   * included).
   */
  async stop(options: { finishReceive?: boolean } = {}): Promise<void> {
    if (!this.running) {
      this.state = 'stopped';
      return;
    }
    if (this.state === 'stopped') return;
    if (this.state !== 'stopping') {
      this.state = 'stopping';
      this.logger.log(`${this.name}: stopping: waiting for ${this.inFlight.size} handler(s) in flight${options.finishReceive ? ' and the receive in progress' : ''}`);
      // A receive aborted here may have taken messages on the server: they come back after their visibility timeout.
      if (!options.finishReceive) this.pollAbort.abort();
      this.pauseAbort.abort();
      this.wakeUp?.();
    }
    await this.running;
  }

  private get stopping(): boolean {
    return this.state === 'stopping' || this.state === 'stopped';
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      await this.waitForRoom();
      if (this.stopping) break;
      const room = Math.min(this.options.batchSize, this.options.maxInFlight - this.inFlight.size);
      let messages: ReceivedMessage[];
      try {
        messages = await this.queue.receive({
          maxMessages: room,
          waitSeconds: this.options.waitSeconds,
          visibilityTimeoutSeconds: this.options.timing.visibilityTimeoutSeconds,
          abortSignal: this.pollAbort.signal,
        });
      } catch (err) {
        if (this.stopping) break;
        await this.backOff(asError(err));
        continue;
      }
      this.receiveSucceeded();
      for (const m of messages) this.dispatch(m);
    }
    await Promise.allSettled([...this.inFlight]);
    this.state = 'stopped';
    this.logger.log(`${this.name}: stopped (${this.handled} handled, ${this.failed} failed)`);
    this.emit('stopped');
  }

  private waitForRoom(): Promise<void> {
    if (this.inFlight.size < this.options.maxInFlight) return Promise.resolve();
    return new Promise((resolve) => (this.wakeUp = resolve));
  }

  private async backOff(err: Error): Promise<void> {
    this.failures++;
    this.failingSince ??= new Date();
    this.lastError = err.message;
    const { initialMs, maxMs } = this.options.backoff;
    // A transient error doubles the pause from the first; one retrying cannot fix (denied, no such queue) waits the longest.
    const transient = !(err instanceof AwsAdapterError) || err.retryable;
    const ceiling = transient ? Math.min(maxMs, initialMs * 2 ** Math.min(this.failures - 1, 30)) : maxMs;
    const pause = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.state = 'backing-off';
    const kind = err instanceof AwsAdapterError ? err.name : 'Error';
    this.logger.warn(`${this.name}: receive failed (${kind}, failure ${this.failures}): ${err.message}; backing off ${pause} ms`);
    this.emit('backing_off', err, pause, this.failures);
    // stop() aborts the pause: the loop then ends at once instead of sleeping it out.
    await sleep(pause, undefined, { signal: this.pauseAbort.signal }).catch(ignoreAbort);
    if (this.state === 'backing-off') this.state = 'running';
  }

  private receiveSucceeded(): void {
    this.lastProgressAt = new Date();
    if (this.failingSince === undefined) return;
    const downMs = Date.now() - this.failingSince.getTime();
    this.logger.log(`${this.name}: recovered: receiving again after ${this.failures} failed receive(s) over ${downMs} ms`);
    this.emit('recovered', downMs, this.failures);
    this.failures = 0;
    this.failingSince = undefined;
    this.lastError = undefined;
  }

  private dispatch(m: ReceivedMessage): void {
    const job: Promise<void> = this.handle(m).finally(() => {
      this.inFlight.delete(job);
      this.lastProgressAt = new Date();
      const wake = this.wakeUp;
      this.wakeUp = undefined;
      wake?.();
    });
    this.inFlight.add(job);
  }

  private async handle(m: ReceivedMessage): Promise<void> {
    const hold = new MessageHold(this.queue, m, this.options.timing, (e) => {
      this.logger.warn(`${this.name}: could not extend the visibility of message ${m.messageId}: ${e.message}`);
      this.emit('heartbeat_failed', m, e);
    });
    const context: MessageContext = {
      ack: async () => {
        if (hold.settle()) await this.queue.delete(m.receiptHandle);
      },
      release: async (visibilitySeconds = 0) => {
        if (hold.settle()) await this.queue.changeVisibility(m.receiptHandle, visibilitySeconds);
      },
    };
    // Called inside an async function: a handler that throws before its first await fails like one that rejects.
    const work = (async () => this.options.handleMessage(m, context))();
    const ended = await Promise.race([
      work.then(
        (outcome) => ({ outcome }),
        (err: unknown) => ({ error: asError(err) }),
      ),
      hold.expired.then(() => 'expired' as const),
    ]);
    if (ended === 'expired') return this.abandon(m, work);
    hold.stop();
    if ('error' in ended) {
      this.failed++;
      this.logger.error(`${this.name}: message ${m.messageId} (receive ${m.receiveCount}) failed, left for redelivery: ${ended.error.message}`);
      this.emit('handler_failed', m, ended.error);
      return;
    }
    if (this.options.deleteAfterHandling && hold.settle()) {
      try {
        await this.queue.delete(m.receiptHandle);
      } catch (err) {
        const e = asError(err);
        this.logger.warn(`${this.name}: message ${m.messageId} handled but not deleted (${e.message}): it will be delivered again`);
        this.emit('delete_failed', m, e);
      }
    }
    this.handled++;
    this.emit('message_handled', m, ended.outcome);
  }

  /**
   * Lets go of a handler that held its message too long: the message is made
   * visible again at once (should that fail, it comes back when its visibility
   * ends, heartbeats having stopped), and the handler, which may still be
   * running, no longer counts nor touches the message.
   */
  private async abandon(m: ReceivedMessage, work: Promise<T>): Promise<void> {
    this.abandoned++;
    const seconds = this.options.timing.handlerTimeoutSeconds;
    this.logger.warn(`${this.name}: message ${m.messageId} (receive ${m.receiveCount}) held by its handler for ${seconds} s: abandoned, visible again for another receive`);
    this.emit('handler_abandoned', m);
    work.then(
      () => this.logger.warn(`${this.name}: the abandoned handler of message ${m.messageId} finished after all; its message was already let go`),
      (err: unknown) => this.logger.warn(`${this.name}: the abandoned handler of message ${m.messageId} failed after all: ${asError(err).message}`),
    );
    try {
      await this.queue.changeVisibility(m.receiptHandle, 0);
    } catch (err) {
      this.logger.warn(`${this.name}: could not make message ${m.messageId} visible again (${asError(err).message}): it comes back when its visibility timeout ends`);
    }
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The pause was cut short by stop(). (By name: the error comes from Node's realm, which a test sandbox's `Error` is not.) */
function ignoreAbort(err: unknown): void {
  if ((err as { name?: unknown } | undefined)?.name !== 'AbortError') throw err;
}
