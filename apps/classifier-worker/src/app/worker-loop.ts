import { NotFoundError, SQS_BATCH_LIMIT, SQS_MAX_DELAY_SECONDS, type ObjectStore, type Queue, type ReceivedMessage } from '@app/aws';
import type { Classifier } from '@app/classifier';
import { ClassifierError, ImageDecodeError } from '@app/classifier';
import {
  MessageParseError,
  monitorMessage,
  outputError,
  outputSuccess,
  parseLaunchMessage,
  resultKey,
  serialize,
  type LaunchMessage,
  type OutputMessage,
  type WorkerState,
} from '@app/contracts';
import { BatchSender } from './batch-sender';
import type { WorkerLogger } from './logger';

export interface WorkerLoopSettings {
  /** Long-poll wait, seconds. */
  pollWaitSeconds: number;
  /** With nothing to do for this long, the loop ends with 'idle'. */
  idleSeconds: number;
  /** The monitor message comes due this long after the worker takes an image. */
  imageDeadlineSeconds: number;
  /** Images held at once (received and not finished). */
  prefetch: number;
  /** Images downloaded and decoded ahead of the model at once (bounds memory). */
  lookahead?: number;
}

export interface WorkerLoopDeps {
  launchQueue: Queue;
  monitorQueue: Queue;
  outputQueue: Queue;
  inputBucket: ObjectStore;
  outputBucket: ObjectStore;
  classifier: Pick<Classifier, 'decode' | 'infer' | 'backend' | 'model'>;
  workerId: string;
  settings: WorkerLoopSettings;
  log: WorkerLogger;
  /** Called on every change of state (and with the images done so far). */
  onState?: (state: WorkerState, imagesDone: number) => void;
}

export type StopReason = 'idle' | 'stopped' | 'failed';

/** One image's way through the worker; times in milliseconds. */
interface Job {
  msg: LaunchMessage;
  receivedAt: number;
  receiveCount: number;
  /** Resolves true once the monitor message is sent and the launch message deleted. */
  taken: Promise<boolean>;
  t: {
    receive: number;
    monitor?: number;
    delete?: number;
    download?: number;
    decode?: number;
    infer?: number;
    batchSize?: number;
    upload?: number;
    output?: number;
  };
}

const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 100) / 100);
/** Waits ms, or less when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Counts down free slots; `acquire` waits for one. */
class Slots {
  private readonly waiters: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * The classifier worker's loop, with at-least-once safety for every image:
 *
 *   receive (long poll, up to ten) -> send the monitor messages (delayed to the
 *   deadline) -> delete the launch messages -> read each image -> classify ->
 *   write the result JSON under the image id -> send the output message.
 *
 * A launch message is deleted only after its monitor message is sent, and an
 * output message is sent only after its result is written, so a crash at any
 * step leaves a message that leads to the image being done again (harmless:
 * the result key is the image id). Stages overlap: while the model works on
 * one image, the next ones are received, announced, downloaded and decoded,
 * and finished ones are written and announced in batches.
 */
export class WorkerLoop {
  private held = 0;
  private imagesDone = 0;
  private state?: WorkerState;
  private stopping = false;
  private failure?: Error;
  private lastWork = performance.now();
  private readonly abort = new AbortController();
  private readonly jobs = new Set<Promise<void>>();
  private readonly released: (() => void)[] = [];
  private readonly lookahead: Slots;
  private readonly outputs: BatchSender;
  private running?: Promise<StopReason>;

  constructor(private readonly d: WorkerLoopDeps) {
    this.lookahead = new Slots(d.settings.lookahead ?? 8);
    this.outputs = new BatchSender(d.outputQueue);
  }

  get done(): number {
    return this.imagesDone;
  }

  /** Runs until idle, stopped, or failed (the model broke); then every image taken is finished. */
  run(): Promise<StopReason> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops polling, finishes the images already taken, and resolves when done. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.wake();
    if (this.running) await this.running;
  }

  private setState(state: WorkerState): void {
    if (state === this.state) return;
    this.state = state;
    this.d.onState?.(state, this.imagesDone);
  }

  private wake(): void {
    for (const r of this.released.splice(0)) r();
  }

  private async loop(): Promise<StopReason> {
    const { settings, log } = this.d;
    const idleMs = settings.idleSeconds * 1000;
    // Take full batches: with room for fewer than this, wait for images to finish first.
    const batch = Math.min(SQS_BATCH_LIMIT, settings.prefetch);
    let reason: StopReason = 'stopped';
    let backoffMs = 0;
    let polling = false;
    this.setState('free');
    while (!this.stopping) {
      if (settings.prefetch - this.held < batch) {
        await new Promise<void>((r) => this.released.push(r));
        continue;
      }
      const idleFor = performance.now() - this.lastWork;
      if (this.held === 0 && idleFor >= idleMs) {
        reason = 'idle';
        break;
      }
      // A poll never outlasts the idle time: one started while images were still
      // in hand would otherwise keep an idle worker alive for a whole long poll
      // (20 s) after its last image. (Aborting it instead would cost the message
      // an emulator hands out at that moment.)
      const idleLeft = this.held > 0 ? idleMs : idleMs - idleFor;
      const waitSeconds = Math.min(settings.pollWaitSeconds, Math.ceil(idleLeft / 1000));
      if (!polling) {
        polling = true;
        log.info(
          { workerId: this.d.workerId, backend: this.d.classifier.backend, model: this.d.classifier.model, coldStartMs: Math.round(performance.now()) },
          'polling the launch queue',
        );
      }
      const started = performance.now();
      let messages: ReceivedMessage[];
      try {
        messages = await this.d.launchQueue.receive({
          maxMessages: Math.min(SQS_BATCH_LIMIT, settings.prefetch - this.held),
          waitSeconds,
          abortSignal: this.abort.signal,
        });
        backoffMs = 0;
      } catch (err) {
        if (this.stopping) break;
        backoffMs = Math.min(20_000, Math.max(500, backoffMs * 2));
        log.warn({ reason: (err as Error).message, retryInMs: backoffMs }, 'cannot receive from the launch queue');
        await sleep(backoffMs, this.abort.signal);
        continue;
      }
      if (messages.length === 0) {
        // A short poll (POLL_WAIT_SECONDS=0) must not spin.
        if (waitSeconds === 0) await sleep(200, this.abort.signal);
        continue;
      }
      this.lastWork = performance.now();
      this.take(messages, (performance.now() - started) / messages.length);
    }
    if (this.failure) reason = 'failed';
    this.setState('stopping');
    while (this.jobs.size > 0) await Promise.allSettled([...this.jobs]);
    await this.outputs.idle();
    return reason;
  }

  /** Announces, deletes and starts the received messages; returns at once. */
  private take(messages: ReceivedMessage[], receiveMs: number): void {
    const { log } = this.d;
    const good: { m: ReceivedMessage; msg: LaunchMessage }[] = [];
    const bad: ReceivedMessage[] = [];
    for (const m of messages) {
      try {
        good.push({ m, msg: parseLaunchMessage(m.body) });
      } catch (err) {
        // Not ours to retry: it can never become valid. Logged, then deleted.
        const problems = err instanceof MessageParseError ? err.problems : [(err as Error).message];
        log.error({ messageId: m.messageId, problems, body: m.body.slice(0, 300) }, 'malformed launch message deleted');
        bad.push(m);
      }
    }
    const taking = this.announce(good, bad).catch((err: unknown) => {
      // Not expected (announce reports its own failures), but never take an image half-announced.
      log.error({ reason: (err as Error).message }, 'cannot announce images: left in the launch queue');
      return { taken: good.map(() => false), monitorMs: 0, deleteMs: 0 };
    });
    for (const [i, { m, msg }] of good.entries()) {
      const job: Job = {
        msg,
        receivedAt: performance.now(),
        receiveCount: m.receiveCount,
        taken: taking.then((r) => r.taken[i]),
        t: { receive: receiveMs },
      };
      void taking.then((r) => {
        job.t.monitor = r.monitorMs;
        job.t.delete = r.deleteMs;
      });
      this.held++;
      const p = this.process(job).finally(() => {
        this.jobs.delete(p);
        this.held--;
        this.lastWork = performance.now();
        if (this.held === 0 && !this.stopping) this.setState('free');
        this.wake();
      });
      this.jobs.add(p);
    }
    if (this.held > 0) this.setState('busy');
  }

  /**
   * Monitor messages first, then the launch messages are deleted: only those
   * whose monitor message went out (a refused one stays in the launch queue
   * and comes back after its visibility timeout).
   */
  private async announce(
    good: { m: ReceivedMessage; msg: LaunchMessage }[],
    bad: ReceivedMessage[],
  ): Promise<{ taken: boolean[]; monitorMs: number; deleteMs: number }> {
    const { settings, log, workerId } = this.d;
    const startedAt = new Date();
    const deadline = new Date(startedAt.getTime() + settings.imageDeadlineSeconds * 1000);
    const delaySeconds = Math.min(SQS_MAX_DELAY_SECONDS, settings.imageDeadlineSeconds);
    const taken = good.map(() => false);
    let t = performance.now();
    if (good.length > 0) {
      const entries = good.map(({ msg }, i) => ({
        id: String(i),
        delaySeconds,
        body: serialize(
          monitorMessage({
            batchId: msg.batchId,
            imageId: msg.imageId,
            fileName: msg.fileName,
            attempt: msg.attempt,
            inputKey: msg.inputKey,
            instanceId: workerId,
            startedAt: startedAt.toISOString(),
            deadline: deadline.toISOString(),
          }),
        ),
      }));
      let refused = new Set<string>();
      try {
        const failures = await this.d.monitorQueue.sendBatch(entries);
        refused = new Set(failures.map((f) => f.id));
        for (const f of failures) {
          log.warn({ imageId: good[Number(f.id)].msg.imageId, reason: `${f.code}: ${f.message}` }, 'monitor message refused: image left in the launch queue');
        }
      } catch (err) {
        refused = new Set(entries.map((e) => e.id));
        log.warn({ images: good.length, reason: (err as Error).message }, 'cannot send monitor messages: images left in the launch queue');
      }
      good.forEach((_, i) => (taken[i] = !refused.has(String(i))));
    }
    const monitorMs = good.length > 0 ? (performance.now() - t) / good.length : 0;
    t = performance.now();
    const toDelete = [...good.filter((_, i) => taken[i]).map(({ m }) => m), ...bad];
    if (toDelete.length > 0) {
      try {
        const failures = await this.d.launchQueue.deleteBatch(toDelete.map((m) => m.receiptHandle));
        // The image is still done; the launch message will come back and be done again (harmless).
        for (const f of failures) log.warn({ receiptHandle: f.id.slice(0, 20), reason: f.message }, 'launch message not deleted');
      } catch (err) {
        log.warn({ messages: toDelete.length, reason: (err as Error).message }, 'cannot delete launch messages');
      }
    }
    return { taken, monitorMs, deleteMs: toDelete.length > 0 ? (performance.now() - t) / toDelete.length : 0 };
  }

  private async process(job: Job): Promise<void> {
    const { msg } = job;
    const ids = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt };
    let result: OutputMessage;
    try {
      const decoded = await this.downloadAndDecode(job);
      const inference = await this.d.classifier.infer(decoded);
      job.t.infer = inference.inferenceMs;
      job.t.batchSize = inference.batchSize;
      const [best] = inference.top5;
      result = outputSuccess({
        ...this.ref(msg),
        label: best.label,
        confidence: best.confidence,
        top5: inference.top5,
        timings: this.timings(job),
        backend: this.d.classifier.backend,
        model: this.d.classifier.model,
      });
    } catch (err) {
      if (err instanceof ImageDecodeError || err instanceof NotFoundError) {
        // Permanent: retrying the same bytes cannot help. Reported at once.
        const reason = err instanceof NotFoundError ? 'image not found in the input bucket' : err.message;
        result = outputError({ ...this.ref(msg), reason: reason.slice(0, 1000), permanent: true });
      } else {
        this.d.log.error({ ...ids, reason: (err as Error).message }, 'image failed; the monitor controller will retry it');
        if (err instanceof ClassifierError) this.fail(err);
        return;
      }
    }
    if (!(await job.taken)) return;
    await this.deliver(job, result);
  }

  private async downloadAndDecode(job: Job) {
    await this.lookahead.acquire();
    try {
      const t = performance.now();
      const bytes = await this.d.inputBucket.getBuffer(job.msg.inputKey);
      job.t.download = performance.now() - t;
      const decoded = await this.d.classifier.decode(bytes);
      job.t.decode = decoded.decodeMs;
      return decoded;
    } finally {
      this.lookahead.release();
    }
  }

  /** Result JSON under the image id, then the output message (the same JSON). */
  private async deliver(job: Job, result: OutputMessage): Promise<void> {
    const { msg } = job;
    const body = serialize(result);
    const ids = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt };
    try {
      let t = performance.now();
      await this.d.outputBucket.put(resultKey(msg.imageId), body, { contentType: 'application/json' });
      job.t.upload = performance.now() - t;
      t = performance.now();
      await this.outputs.send(body);
      job.t.output = performance.now() - t;
    } catch (err) {
      this.d.log.error({ ...ids, reason: (err as Error).message }, 'result not delivered; the monitor controller will retry the image');
      return;
    }
    this.imagesDone++;
    const timings = Object.fromEntries(
      Object.entries({ ...job.t, total: performance.now() - job.receivedAt }).map(([k, v]) => [`${k}Ms`, round(v)]),
    );
    delete timings['batchSizeMs'];
    this.d.log.info(
      {
        ...ids,
        receiveCount: job.receiveCount,
        status: result.status,
        ...(result.status === 'ok'
          ? { label: result.label, confidence: round(result.confidence) }
          : { reason: result.reason }),
        batchSize: job.t.batchSize,
        timings,
      },
      result.status === 'ok' ? 'image classified' : 'image refused (permanent error)',
    );
  }

  private ref(msg: LaunchMessage) {
    return {
      batchId: msg.batchId,
      imageId: msg.imageId,
      fileName: msg.fileName,
      attempt: msg.attempt,
      producedBy: this.d.workerId,
      completedAt: new Date().toISOString(),
    };
  }

  private timings(job: Job) {
    const queueMs = Date.now() - (performance.now() - job.receivedAt) - Date.parse(job.msg.enqueuedAt);
    return {
      queueMs: round(Math.max(0, queueMs)),
      downloadMs: round(job.t.download),
      decodeMs: round(job.t.decode),
      inferenceMs: round(job.t.infer),
      totalMs: round(performance.now() - job.receivedAt),
    };
  }

  /** The model is broken (not the image): stop taking work; the fleet replaces this worker. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.d.log.error({ reason: err.message }, 'the classifier failed: stopping');
    this.stopping = true;
    this.abort.abort();
    this.wake();
  }
}
