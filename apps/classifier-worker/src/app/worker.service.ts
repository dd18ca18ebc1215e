import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { AwsClients, AwsResources } from '@app/aws';
import { Classifier, classifierOptions } from '@app/classifier';
import { AppConfig } from '@app/config';
import { InterruptionWatch, type InterruptionNotice } from './interruption-watch';
import { Ec2Platform, fetchInstanceId, LocalPlatform, type WorkerPlatform } from './platform';
import { WorkerLoop, type StopReason } from './worker-loop';
import type { PreloadedModel } from '../preload';

/** The model main.ts started loading before the app's modules, or null. */
export const PRELOADED_MODEL = Symbol('PRELOADED_MODEL');

/**
 * The worker process: model loaded once at start-up (before "ready"), the
 * loop started once the app is up, and on SIGTERM the loop stops polling and
 * finishes the images it holds before the process exits 0. When the loop
 * idles out, the worker ends itself: the instance on EC2, the process locally.
 */
@Injectable()
export class WorkerService implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private platform!: WorkerPlatform;
  private classifier?: Classifier;
  private loop?: WorkerLoop;
  private interruptions?: InterruptionWatch;

  constructor(
    private readonly config: AppConfig,
    private readonly resources: AwsResources,
    private readonly clients: AwsClients,
    private readonly log: PinoLogger,
    @Inject(PRELOADED_MODEL) private readonly preloaded: PreloadedModel | null,
  ) {
    log.setContext(WorkerService.name);
  }

  async onModuleInit(): Promise<void> {
    const w = this.config.worker;
    this.platform =
      w.platform === 'ec2'
        ? new Ec2Platform(await fetchInstanceId(w.metadataEndpoint), () => this.clients.ec2, this.log)
        : new LocalPlatform(w.workerId ?? `local-${process.pid}`);
    this.platform.reportState('starting', 0);
    if (this.preloaded) this.preloaded.log.attach(this.log);
    this.classifier = await (this.preloaded?.classifier ?? Classifier.create(classifierOptions(w), this.log));
    this.loop = new WorkerLoop({
      launchQueue: this.resources.launchQueue,
      monitorQueue: this.resources.monitorQueue,
      outputQueue: this.resources.resultAnnouncements,
      inputBucket: this.resources.inputBucket,
      outputBucket: this.resources.outputBucket,
      classifier: this.classifier,
      workerId: this.platform.workerId,
      settings: {
        pollWaitSeconds: w.pollWaitSeconds,
        idleSeconds: this.config.fleet.idleSeconds,
        imageDeadlineSeconds: w.imageDeadlineSeconds,
        imageHardLimitSeconds: w.imageHardLimitSeconds,
        livenessCheckSeconds: w.livenessCheckSeconds,
        heartbeatSeconds: w.heartbeatSeconds,
        maxHandBacks: w.maxHandBacks,
        prefetch: w.prefetch,
      },
      log: this.log,
      onState: (state, done) => this.platform.reportState(state, done),
    });
  }

  onApplicationBootstrap(): void {
    const loop = this.loop;
    if (!loop) return;
    void loop.run().then(
      (reason) => this.stopped(reason),
      (err: unknown) => {
        this.log.error({ reason: (err as Error).message }, 'worker loop crashed');
        process.exit(1);
      },
    );
    if (this.platform.kind === 'ec2') {
      // serviceKnown: the instance id came from this metadata service a moment ago.
      this.interruptions = new InterruptionWatch({ endpoint: this.config.worker.metadataEndpoint, serviceKnown: true, log: this.log, onNotice: (n) => this.interrupted(n) });
      void this.interruptions.start();
    }
  }

  /**
   * EC2 takes this Spot instance back in two minutes: stop claiming, hand every
   * held image back for immediate re-delivery (listed in the heartbeat, so the
   * monitor ends those checks instead of retrying them as a dead worker's), and
   * leave through SIGTERM.
   */
  private async interrupted(notice: InterruptionNotice): Promise<void> {
    const handedBack = await this.handBackAll('Spot interruption notice').catch((err: Error) => {
      this.log.error({ reason: err.message }, 'Spot interruption: hand-back failed; the monitor retries what is left');
      return 0;
    });
    this.log.warn({ action: notice.action, terminateAt: notice.time, handedBack, imagesDone: this.loop?.done ?? 0 }, 'Spot interruption: images handed back, exiting');
    process.kill(process.pid, 'SIGTERM');
  }

  private async stopped(reason: StopReason): Promise<void> {
    const imagesDone = this.loop?.done ?? 0;
    if (reason === 'failed') {
      this.log.error({ imagesDone }, 'worker stopped after a classifier failure');
      await this.classifier?.close();
      process.exit(1);
    }
    if (reason !== 'idle') return;
    this.log.info(
      { imagesDone, idleSeconds: this.config.fleet.idleSeconds, platform: this.platform.kind },
      this.platform.kind === 'ec2' ? 'idle: ending this instance' : 'idle: exiting',
    );
    await this.platform.terminateSelf();
    // Leave through the same path as SIGTERM: app.close(), then exit 0.
    process.kill(process.pid, 'SIGTERM');
  }

  /**
   * Hands every image held back for immediate re-delivery and stops claiming (see
   * WorkerLoop.handBackAll); the loop then ends with 'stopped'. Resolves with the count.
   */
  handBackAll(reason: string): Promise<number> {
    return this.loop?.handBackAll(reason) ?? Promise.resolve(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.interruptions?.stop();
    await this.loop?.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.classifier?.close();
  }
}
