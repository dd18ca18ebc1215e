import { processesWithEnv } from '@tools/testing/processes';

/**
 * Counts the worker processes of one local run straight from /proc (Linux):
 * the ground truth, independent of what the controllers believe.
 */
export function liveWorkerPids(runId: string): number[] {
  return processesWithEnv(`ICS_RUN_ID=${runId}`, 'WORKER_ID=');
}

/** Samples liveWorkerPids every `intervalMs` and keeps the time series. */
export class WorkerCensus {
  readonly samples: { t: number; workers: number }[] = [];
  private timer?: NodeJS.Timeout;
  private readonly started = Date.now();

  constructor(
    private readonly runId: string,
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    this.take();
    this.timer = setInterval(() => this.take(), this.intervalMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  take(): number {
    const workers = liveWorkerPids(this.runId).length;
    this.samples.push({ t: Date.now() - this.started, workers });
    return workers;
  }

  get peak(): number {
    return Math.max(0, ...this.samples.map((s) => s.workers));
  }

  /** Ms since start of the first sample with at least one worker, if any. */
  get firstWorkerAt(): number | undefined {
    return this.samples.find((s) => s.workers > 0)?.t;
  }
}
