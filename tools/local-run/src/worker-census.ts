import { readdirSync, readFileSync } from 'node:fs';

/**
 * Counts the worker processes of one local run straight from /proc (Linux):
 * the ground truth, independent of what the controllers believe.
 */
export function liveWorkerPids(runId: string): number[] {
  return processesWithEnv(`ICS_RUN_ID=${runId}`, 'WORKER_ID=');
}

/** Live processes whose environment holds `entry` exactly (and a variable starting with `alsoPrefix`, if given). */
export function processesWithEnv(entry: string, alsoPrefix?: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      // A zombie (exited, not yet reaped) has no memory left: not alive for us.
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) continue;
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    const vars = environ.split('\0');
    if (vars.includes(entry) && (alsoPrefix === undefined || vars.some((v) => v.startsWith(alsoPrefix)))) pids.push(Number(pid));
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
