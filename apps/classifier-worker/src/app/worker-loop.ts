import type { MessageSink, ObjectStore, Queue } from '@app/aws';
import type { Classifier } from '@app/classifier';
import { launchMessage, outputError, resultKey, serialize, tenantGroupId, type OutputMessage, type WorkerState } from '@app/contracts';
import { AttemptLedger, BatchSender, ResultPublisher } from '@app/results';
import { ClaimStage } from './claim-stage';
import { ClassifyStage } from './classify-stage';
import { FetchStage } from './fetch-stage';
import { HeartbeatKeeper } from './heartbeat-keeper';
import { ModelBrokenError, PermanentImageError, ref, type Job } from './job';
import type { WorkerLogger } from './logger';
import { PrefetchBudget } from './prefetch-budget';
import { PublishStage } from './publish-stage';
import { TenantTurns } from './tenant-turns';

export interface WorkerLoopSettings {
  /** Long-poll wait, seconds. */
  pollWaitSeconds: number;
  /** With nothing to do for this long, the loop ends with 'idle'. */
  idleSeconds: number;
  /** No progress for this long: the monitor deems the worker hung. */
  imageDeadlineSeconds: number;
  /** Retried past this whatever the worker says (default: 5 × the deadline). */
  imageHardLimitSeconds?: number;
  /** The monitor checks each image this often (default 5). */
  livenessCheckSeconds?: number;
  /** Heartbeat period while images are held (default 2). */
  heartbeatSeconds?: number;
  /** Hand-backs of one attempt before this worker gives it up to the monitor (default 3). */
  maxHandBacks?: number;
  /** Most images held at once (WORKER_PREFETCH); fewer when the deadline allows fewer. */
  prefetch: number;
  /**
   * Images between the bucket and the model at once: being read, decoded, or decoded and waiting for
   * the model (bounds memory; default 8). Places go to tenants in turn (TenantTurns).
   */
  lookahead?: number;
  /**
   * How long a finished image's output message waits for others to share its call, ms (default 100),
   * while other images are in the stages (the last of a burst goes at once):
   * results finish their conditional puts tens of ms apart, and a call per result costs the
   * worker about as much CPU as the image's decode; 0.1 s more before an answer is announced
   * is small beside the seconds an image spends queued, read and classified.
   */
  outputLingerMs?: number;
}

export interface WorkerLoopDeps {
  launchQueue: Queue;
  monitorQueue: Queue;
  /** Where results are announced: the results topic, or the output queue (AwsResources.resultAnnouncements). */
  outputQueue: MessageSink;
  inputBucket: ObjectStore;
  outputBucket: ObjectStore;
  classifier: Pick<Classifier, 'decode' | 'infer' | 'backend' | 'model'>;
  workerId: string;
  settings: WorkerLoopSettings;
  log: WorkerLogger;
  /** Called on every change of state (and with the images done so far). */
  onState?: (state: WorkerState, imagesDone: number) => void;
  /** This process's session id (default: a random one). */
  session?: string;
}

export type StopReason = 'idle' | 'stopped' | 'failed';

const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 100) / 100);

/**
 * The classifier worker: claim → fetch → classify → publish, one small stage
 * each, with at-least-once safety for every image (see each stage). Stages
 * overlap: while the model works on one image the next ones are claimed,
 * read and decoded, and finished ones are published in batches. An image that
 * meets a passing failure is handed back (same attempt) instead of the worker
 * being killed over it; a heartbeat tells the monitor controller what the
 * worker holds and that it makes progress.
 */
export class WorkerLoop {
  private imagesDone = 0;
  private held = 0;
  /** Messages received and not yet settled (claimed, waiting for room, or being parsed). */
  private receiving = 0;
  private state?: WorkerState;
  private failure?: Error;
  private reason?: StopReason;
  private lastWork = performance.now();
  private running?: Promise<StopReason>;
  private finish?: (reason: StopReason) => void;
  private readonly budget: PrefetchBudget;
  private readonly heartbeat: HeartbeatKeeper;
  private readonly claim: ClaimStage;
  private readonly turns: TenantTurns;
  private readonly fetch: FetchStage;
  private readonly classify: ClassifyStage;
  private readonly publish: PublishStage;
  /** Images in the stages now, and whether each was handed back wholesale (handBackAll). */
  private readonly active = new Map<Job, { handedBack: boolean }>();
  private readonly handBacks: BatchSender;
  private handingBack?: string;

  constructor(private readonly d: WorkerLoopDeps) {
    const s = d.settings;
    const check = s.livenessCheckSeconds ?? 5;
    const ledger = new AttemptLedger(d.outputBucket);
    this.budget = new PrefetchBudget(s.prefetch, s.imageDeadlineSeconds * 1000);
    this.handBacks = new BatchSender(d.launchQueue);
    this.heartbeat = new HeartbeatKeeper({
      bucket: d.outputBucket,
      workerId: d.workerId,
      session: d.session,
      settings: { intervalMs: (s.heartbeatSeconds ?? 2) * 1000, keepMs: Math.max(60_000, check * 10_000) },
      log: d.log,
      // The monitor acted on a failed take once it queued a later attempt or an answer is written.
      actedOn: async (r) => (await ledger.isSuperseded(r.imageId, r.attempt)) || (await d.outputBucket.exists(resultKey(r.imageId))),
    });
    this.claim = new ClaimStage({
      launchQueue: d.launchQueue,
      monitorQueue: d.monitorQueue,
      workerId: d.workerId,
      session: this.heartbeat.session,
      settings: {
        pollWaitSeconds: s.pollWaitSeconds,
        imageDeadlineSeconds: s.imageDeadlineSeconds,
        imageHardLimitSeconds: s.imageHardLimitSeconds ?? s.imageDeadlineSeconds * 5,
        livenessCheckSeconds: check,
        prefetch: s.prefetch,
      },
      budget: this.budget,
      log: d.log,
      work: (job) => this.process(job),
      onReceived: () => {
        this.lastWork = performance.now();
        this.receiving++;
      },
      onSettled: () => {
        this.receiving--;
        this.lastWork = performance.now();
      },
      idleLeftMs: () => (this.receiving > 0 ? Infinity : s.idleSeconds * 1000 - (performance.now() - this.lastWork)),
      onIdle: () => this.end('idle'),
    });
    this.turns = new TenantTurns(s.lookahead ?? 8);
    this.fetch = new FetchStage(d.inputBucket, d.classifier);
    this.classify = new ClassifyStage(d.classifier, d.workerId, (ms) => this.budget.observe(ms));
    this.publish = new PublishStage(
      new ResultPublisher(d.outputBucket, d.outputQueue, {
        batch: true,
        lingerMs: s.outputLingerMs ?? 100,
        // Company can come only from the images received and not yet settled (in the stages, or on their way in).
        expectMore: (held) => this.receiving > held,
      }),
      ledger,
      check * 1000,
    );
  }

  get done(): number {
    return this.imagesDone;
  }

  /** This worker process's session, as its heartbeat and monitor messages name it. */
  get session(): string {
    return this.heartbeat.session;
  }

  /**
   * Stops claiming and hands every image held back to the launch queue at once
   * (same attempt, visible without delay), for another worker to take now: for
   * a worker about to disappear (a Spot interruption notice). The heartbeat lists
   * them as handed back, so the monitor ends their checks instead of waiting for
   * this worker's death. Images still waiting for room are released by the claim
   * stage as it stops. Resolves with the number handed back once each is sent
   * and recorded; the loop then ends with 'stopped' as the stages wind down.
   */
  async handBackAll(reason: string): Promise<number> {
    this.handingBack ??= reason;
    this.end('stopped');
    const jobs = [...this.active].filter(([, s]) => !s.handedBack);
    for (const [, s] of jobs) s.handedBack = true;
    const err = new Error(reason);
    await Promise.all(jobs.map(([job]) => this.handBack(job, err, { delaySeconds: 0, sender: this.handBacks })));
    this.d.log.warn({ reason, images: jobs.length }, 'every image held handed back');
    return jobs.length;
  }

  /** Runs until idle, stopped, or failed (the model broke); then every image claimed is finished. */
  run(): Promise<StopReason> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops claiming, finishes the images already claimed, and resolves when done. */
  async stop(): Promise<void> {
    this.end('stopped');
    if (this.running) await this.running;
  }

  private end(reason: StopReason): void {
    this.reason ??= reason;
    this.finish?.(this.reason);
  }

  private setState(state: WorkerState): void {
    if (state === this.state) return;
    this.state = state;
    this.d.onState?.(state, this.imagesDone);
  }

  private async loop(): Promise<StopReason> {
    const { log, classifier, workerId } = this.d;
    this.setState('free');
    log.info({ workerId, backend: classifier.backend, model: classifier.model, coldStartMs: Math.round(performance.now()) }, 'polling the launch queue');
    const ended = new Promise<StopReason>((resolve) => (this.finish = resolve));
    if (this.reason) this.finish?.(this.reason);
    this.heartbeat.start();
    this.claim.start();
    const reason = await ended;
    this.setState('stopping');
    // Handing everything back: the poll at the launch queue ends on its own, or it could take those very images.
    await this.claim.stop({ finishReceive: this.handingBack !== undefined });
    await this.publish.idle();
    await this.handBacks.idle();
    await this.heartbeat.stop();
    return this.failure ? 'failed' : reason;
  }

  private async process(job: Job): Promise<void> {
    this.held++;
    this.setState('busy');
    this.heartbeat.hold(ref(job));
    const status = { handedBack: false };
    this.active.set(job, status);
    try {
      if (this.handingBack && !status.handedBack) {
        // Claimed as everything was being handed back: this one goes back too.
        status.handedBack = true;
        await this.handBack(job, new Error(this.handingBack), { delaySeconds: 0, sender: this.handBacks });
        return;
      }
      await this.stages(job, status);
    } finally {
      this.active.delete(job);
      this.heartbeat.release(ref(job));
      this.held--;
      this.lastWork = performance.now();
      if (this.held === 0 && !this.reason) this.setState('free');
    }
  }

  private async stages(job: Job, status: { handedBack: boolean }): Promise<void> {
    let result: OutputMessage;
    const waited = performance.now();
    await this.turns.acquire(job.msg.tenant ?? '');
    job.t.turn = performance.now() - waited;
    try {
      const decoded = await this.fetch.run(job);
      this.heartbeat.progress();
      if (status.handedBack) return;
      result = await this.classify.run(job, decoded);
      this.heartbeat.progress();
      if (status.handedBack) return;
    } catch (err) {
      if (status.handedBack) return;
      if (err instanceof PermanentImageError) {
        // Retrying the same bytes cannot help: reported at once.
        result = outputError({ ...this.imageRef(job), reason: err.message.slice(0, 1000), permanent: true });
      } else if (err instanceof ModelBrokenError) {
        await this.giveUpOn(job, err);
        this.fail(err);
        return;
      } else {
        await this.handBack(job, err as Error);
        return;
      }
    } finally {
      this.turns.release();
    }
    let outcome;
    try {
      outcome = await this.publish.run(job, result);
    } catch (err) {
      await this.handBack(job, err as Error);
      return;
    }
    this.heartbeat.progress(outcome !== 'superseded');
    this.logFinished(job, result, outcome);
  }

  /**
   * A passing failure: the image goes back to the launch queue as the same
   * attempt (after a short delay, longer each time), so it costs no attempt.
   * After MAX_HAND_BACKS, or when even that send fails, the worker gives it up
   * to the monitor instead (heartbeat), which retries it as the next attempt.
   */
  private async handBack(job: Job, err: Error, now?: { delaySeconds: number; sender: BatchSender }): Promise<void> {
    const { msg } = job;
    const ids = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt, reason: err.message };
    const handBacks = (msg.handBacks ?? 0) + 1;
    // A wholesale hand-back is not the image's fault: it never counts toward giving up.
    if (!now && handBacks > (this.d.settings.maxHandBacks ?? 3)) return this.giveUpOn(job, err);
    try {
      const again = serialize(
        launchMessage({ batchId: msg.batchId, imageId: msg.imageId, fileName: msg.fileName, attempt: msg.attempt, inputKey: msg.inputKey, enqueuedAt: msg.enqueuedAt, handBacks: Math.min(100, handBacks), ...(msg.tenant ? { tenant: msg.tenant } : {}) }),
      );
      // Still the tenant's: its MessageGroupId keeps the launch queue's share fair.
      if (now) await now.sender.send(again, now.delaySeconds, tenantGroupId(msg.tenant));
      else await this.d.launchQueue.send(again, Math.min(30, 2 ** handBacks), tenantGroupId(msg.tenant));
    } catch (sendErr) {
      return this.giveUpOn(job, new Error(`${err.message}; hand-back failed: ${(sendErr as Error).message}`));
    }
    // Sent before recorded: should the worker die in between, the monitor retries it too (a duplicate, not a gap).
    await this.heartbeat.handBack(ref(job));
    this.d.log.warn({ ...ids, handBacks }, 'image handed back after a passing failure');
  }

  private async giveUpOn(job: Job, err: Error): Promise<void> {
    await this.heartbeat.fail(ref(job));
    this.d.log.error({ imageId: job.msg.imageId, batchId: job.msg.batchId, attempt: job.msg.attempt, reason: err.message }, 'image failed; the monitor controller will retry it');
  }

  /** The model is broken (not the image): stop claiming; the fleet replaces this worker. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.d.log.error({ reason: err.message }, 'the classifier failed: stopping');
    this.end('failed');
  }

  private imageRef(job: Job) {
    const { msg } = job;
    return { batchId: msg.batchId, imageId: msg.imageId, fileName: msg.fileName, attempt: msg.attempt, producedBy: this.d.workerId, completedAt: new Date().toISOString() };
  }

  private logFinished(job: Job, result: OutputMessage, outcome: 'published' | 'answered-before' | 'superseded'): void {
    const { msg } = job;
    const ids = { imageId: msg.imageId, batchId: msg.batchId, attempt: msg.attempt, tenant: msg.tenant, fileName: msg.fileName };
    if (outcome === 'superseded') {
      this.d.log.warn(ids, 'attempt superseded by a later one: result discarded');
      return;
    }
    this.imagesDone++;
    if (outcome === 'answered-before') {
      this.d.log.warn(ids, 'image already answered: the first result stands and was announced again');
      return;
    }
    const timings = Object.fromEntries(
      Object.entries({ ...job.t, total: performance.now() - job.receivedAt })
        .filter(([k]) => k !== 'batchSize')
        .map(([k, v]) => [`${k}Ms`, round(v)]),
    );
    this.d.log.info(
      {
        ...ids,
        receiveCount: job.receiveCount,
        heldAtReceive: job.heldAtReceive,
        status: result.status,
        ...(result.status === 'ok' ? { label: result.label, confidence: round(result.confidence) } : { reason: result.reason }),
        batchSize: job.t.batchSize,
        timings,
      },
      result.status === 'ok' ? 'image classified' : 'image refused (permanent error)',
    );
  }
}
