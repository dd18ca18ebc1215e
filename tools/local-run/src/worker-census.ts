import { readdirSync, readFileSync } from 'node:fs';

/**
 * Counts the worker processes of one local run straight from /proc (Linux):
 * the ground truth, independent of what the controllers believe.
 */
export function liveWorkerPids(runId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      // A zombie (exited, not yet reaped) has no memory left: not alive for us.
      if (readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) continue;
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    const vars = environ.split('\0');
    if (vars.includes(`ICS_RUN_ID=${runId}`) && vars.some((v) => v.startsWith('WORKER_ID='))) pids.push(Number(entry));
  }
  return pids;
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
