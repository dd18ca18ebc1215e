import type { LoggerService } from '@nestjs/common';
import { QueueConsumer, RECEIVE_GATHER_MS, receiveShare, SQS_BATCH_LIMIT, SQS_MAX_DELAY_SECONDS, type MessageContext, type Queue, type ReceivedMessage } from '@app/aws';
import { MessageParseError, monitorMessageOf, parseLaunchMessage, serialize, type LaunchMessage } from '@app/contracts';
import { BatchDeleter, BatchSender } from '@app/results';
import type { Job } from './job';
import type { WorkerLogger } from './logger';
import type { PrefetchBudget } from './prefetch-budget';
import { ReceiveGate } from './receive-gate';

export interface ClaimSettings {
  pollWaitSeconds: number;
  /** No progress for this long: the monitor deems the worker hung. */
  imageDeadlineSeconds: number;
  /** Retried past this whatever the worker says. */
  imageHardLimitSeconds: number;
  /** The first check of an image comes due this long after it is claimed. */
  livenessCheckSeconds: number;
  /** Most images received at once (claimed or waiting for room). */
  prefetch: number;
  /**
   * A message not claimed (checked and deleted) this long after it arrived is given up:
   * released if it waited for room, else left to come back. Below the launch queue's
   * visibility timeout (15 s locally, 60 s on AWS), so that no other worker receives it
   * while this one may still claim it. Default 10.
   */
  claimTimeoutSeconds?: number;
  /**
   * Once there is room for one message, how long the worker gathers more room before
   * it receives anyway, ms (default 200): what a quiet tenant's message may wait in the
   * launch queue for this worker's next receive, beyond the time for a place to free.
   */
  receiveGatherMs?: number;
}

export interface ClaimDeps {
  launchQueue: Queue;
  monitorQueue: Queue;
  workerId: string;
  /** This worker process's session, named in each monitor message. */
  session?: string;
  settings: ClaimSettings;
  budget: PrefetchBudget;
  log: WorkerLogger;
  /** Takes a claimed image through the other stages; resolves when it is finished or handed on. */
  work: (job: Job) => Promise<void>;
  /** A message arrived (claimable or not): the worker is not idle. */
  onReceived?: () => void;
  /** The message is settled (claimed and finished, released, or dropped). */
  onSettled?: () => void;
  /** Milliseconds of idleness left before the worker ends itself (Infinity while it holds images). */
  idleLeftMs?: () => number;
  /** Called (once a receive would start past the idle time) instead of polling again. */
  onIdle?: () => void;
}

export type ClaimOutcome = 'claimed' | 'malformed' | 'released';

/** The claim of one message took longer than the claim timeout. */
class ClaimTimeoutError extends Error {
  override readonly name = 'ClaimTimeoutError';
}

/**
 * Takes images from the launch queue through the shared QueueConsumer. An
 * image is claimed by sending its first monitor check (delayed by
 * LIVENESS_CHECK_SECONDS) and only then deleting its launch message: a crash
 * in between leaves both, a duplicate, never neither. A message waits unclaimed
 * while the prefetch budget has no room; one still waiting when the worker
 * stops is released at once for another worker.
 */
export class ClaimStage {
  private readonly consumer: QueueConsumer<ClaimOutcome>;
  private readonly checks: BatchSender;
  /** Launch messages are deleted in batches: the claims of one receive share a call. */
  private readonly deletes: BatchDeleter;
  private readonly stopping = new AbortController();
  /** Messages received and not settled yet. */
  private received = 0;
  private readonly gate: ReceiveGate;

  constructor(private readonly d: ClaimDeps) {
    this.checks = new BatchSender(d.monitorQueue);
    this.deletes = new BatchDeleter(d.launchQueue);
    const batchSize = Math.min(SQS_BATCH_LIMIT, d.settings.prefetch);
    this.gate = new ReceiveGate({
      room: () => d.budget.limit - this.received,
      // receiveShare is at most a receive's ten and a quarter of a limit that never exceeds the prefetch.
      want: () => receiveShare(d.budget.limit),
      onChange: (fn) => d.budget.onChange(fn),
      gatherMs: d.settings.receiveGatherMs ?? RECEIVE_GATHER_MS,
    });
    this.consumer = new QueueConsumer<ClaimOutcome>({
      queue: this.paced(d.launchQueue),
      name: 'launch queue',
      batchSize,
      // The budget bounds what is held (see paced()); the consumer's own bound sits above it so
      // that it always asks for a full batch: a receive made as one image finishes would
      // otherwise ask for one message, and each take would cost a receive and a delete call.
      maxInFlight: d.settings.prefetch + batchSize,
      waitSeconds: d.settings.pollWaitSeconds,
      handleMessage: (m, ctx) => this.claim(m, ctx),
      logger: consumerLogger(d.log),
    });
    this.consumer.on('backing_off', (err, retryInMs) =>
      d.log.warn({ reason: err.message, retryInMs }, 'cannot receive from the launch queue'),
    );
  }

  start(): void {
    this.consumer.start();
  }

  /**
   * Stops receiving; resolves once every claimed image is finished. `finishReceive`: a
   * long poll already at the queue is left to end (see QueueConsumer.stop), and what it
   * brings is released at once; for a worker that has just sent images back to the
   * launch queue, which its own poll, cut short, could take and hide.
   */
  async stop(options: { finishReceive?: boolean } = {}): Promise<void> {
    this.stopping.abort();
    await this.consumer.stop(options);
    await this.checks.idle();
    await this.deletes.idle();
  }

  /**
   * The launch queue as the consumer sees it. A receive asks for no more than
   * the prefetch budget has room for (so a worker never receives what it cannot
   * finish before the deadline, and a dead worker strands no unclaimed
   * messages), and waits while there is none. A poll never outlasts the idle
   * time left, and once that is spent no poll starts at all (it waits for
   * stop()): aborting a long poll instead would leave it pending on the
   * emulator's side (on SQS, maybe with a message taken), which swallows the
   * next message for a whole visibility timeout.
   *
   * A receive waits until there is room for a share of the budget (a quarter of
   * it, up to ten), not for one message: one call takes many while the images
   * already held keep the model busy; but not longer than the gather time once
   * there is room for one (ReceiveGate). Deletes go through the batch deleter.
   */
  private paced(queue: Queue): Queue {
    const wrapped = Object.create(queue) as Queue;
    wrapped.delete = (receiptHandle) => this.deletes.delete(receiptHandle);
    wrapped.receive = async (o = {}) => {
      // Waits here end on stop() even when the poll is left to finish (a receive not yet made is not made).
      const waits = o.abortSignal ? AbortSignal.any([o.abortSignal, this.stopping.signal]) : this.stopping.signal;
      if (!(await this.gate.open(waits)) || this.stopping.signal.aborted) return [];
      const left = this.d.idleLeftMs?.() ?? Infinity;
      if (left <= 0) {
        this.d.onIdle?.();
        await this.untilAborted(waits);
        return [];
      }
      const wait = Number.isFinite(left) ? Math.min(o.waitSeconds ?? 0, Math.ceil(left / 1000)) : o.waitSeconds;
      const room = this.d.budget.limit - this.received;
      return queue.receive({ ...o, maxMessages: Math.min(o.maxMessages ?? 1, room), waitSeconds: wait });
    };
    return wrapped;
  }

  /** Resolves when `abort` fires (at once if it has; never without one). */
  private untilAborted(abort: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      abort?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  private async claim(m: ReceivedMessage, ctx: MessageContext): Promise<ClaimOutcome> {
    this.received++;
    this.d.onReceived?.();
    try {
      return await this.claimOne(m, ctx);
    } finally {
      this.received--;
      this.d.onSettled?.();
      this.d.budget.changed(); // a receive waiting for room may go now
    }
  }

  private async claimOne(m: ReceivedMessage, ctx: MessageContext): Promise<ClaimOutcome> {
    let msg: LaunchMessage;
    try {
      msg = parseLaunchMessage(m.body);
    } catch (err) {
      // Not ours to retry: it can never become valid. Logged, then deleted (by the consumer).
      const problems = err instanceof MessageParseError ? err.problems : [(err as Error).message];
      this.d.log.error({ messageId: m.messageId, problems, body: m.body.slice(0, 300) }, 'malformed launch message deleted');
      return 'malformed';
    }
    const receivedAt = performance.now();
    const heldAtReceive = this.received - 1;
    const enqueuedAt = Date.parse(msg.enqueuedAt);
    const sentAt = m.sentAt?.getTime() ?? enqueuedAt;
    const waited = { store: Math.max(0, sentAt - enqueuedAt), queue: Math.max(0, Date.now() - sentAt) };
    const timeoutMs = (this.d.settings.claimTimeoutSeconds ?? 10) * 1000;
    // Room now (the usual case) takes no timer and no signals: a 10 s timer per image, alive until it fires, was a
    // thousand of them at a hundred images a second.
    if (!this.d.budget.tryAcquire() && !(await this.d.budget.acquire(AbortSignal.any([this.stopping.signal, AbortSignal.timeout(timeoutMs)])))) {
      // Stopping (or waited too long) before there was room: let another worker have it now
      // rather than after its visibility timeout. Released through the consumer, so that it
      // does not delete it.
      await ctx.release(0).catch(() => undefined); // not released: back after its visibility timeout
      return 'released';
    }
    try {
      const t = performance.now();
      const job: Job = { msg, receiveCount: m.receiveCount, receivedAt, heldAtReceive, t: { ...waited, room: t - receivedAt } };
      await withTimeout(this.announce(msg), timeoutMs - (t - receivedAt), 'claim timed out: the launch message is left to come back');
      // Checked before deleted: a crash in between leaves both (a duplicate), never neither.
      // The delete goes with the others of this receive; the image need not wait for it.
      const deleted = ctx.ack().catch((err: unknown) => {
        // The image is still done; the launch message comes back and is done again (harmless).
        this.d.log.warn({ imageId: msg.imageId, reason: (err as Error).message }, 'cannot delete launch messages');
      });
      job.t.claim = performance.now() - t;
      await this.d.work(job);
      await deleted;
      return 'claimed';
    } finally {
      this.d.budget.release();
    }
  }

  /** The first check of this take; throws (leaving the launch message) when it cannot be sent. */
  private async announce(msg: LaunchMessage): Promise<void> {
    const { settings, workerId } = this.d;
    const startedAt = Date.now();
    const at = (seconds: number) => new Date(startedAt + seconds * 1000);
    const body = serialize(
      monitorMessageOf(msg, {
        instanceId: workerId,
        ...(this.d.session ? { session: this.d.session } : {}),
        startedAt: at(0),
        deadline: at(settings.imageDeadlineSeconds),
        hardDeadline: at(Math.max(settings.imageHardLimitSeconds, settings.imageDeadlineSeconds)),
      }),
    );
    try {
      await this.checks.send(body, Math.min(SQS_MAX_DELAY_SECONDS, settings.livenessCheckSeconds, settings.imageDeadlineSeconds));
    } catch (err) {
      this.d.log.warn({ imageId: msg.imageId, reason: (err as Error).message }, 'cannot send monitor messages: images left in the launch queue');
      throw err;
    }
  }
}

/** Rejects with ClaimTimeoutError when `work` takes longer than `ms` (the work itself goes on). */
function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClaimTimeoutError(message)), Math.max(0, ms));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** The consumer's own log lines, in the worker's structured log. */
function consumerLogger(log: WorkerLogger): LoggerService {
  const text = (m: unknown) => (typeof m === 'string' ? m : JSON.stringify(m));
  return {
    log: (m: unknown) => log.info({ component: 'launch-consumer' }, text(m)),
    warn: (m: unknown) => log.warn({ component: 'launch-consumer' }, text(m)),
    error: (m: unknown) => log.error({ component: 'launch-consumer' }, text(m)),
  };
}
