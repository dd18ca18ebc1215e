import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What deploy/systemd/classifier-worker.service says about restarts (RestartSec,
 * StartLimitBurst, StartLimitIntervalSec), which the stand-in's instances follow;
 * worker-unit.spec checks that the two agree.
 */
export const WORKER_UNIT = { restartDelayMs: 1_000, startLimitBurst: 5, startLimitIntervalMs: 300_000 } as const;

export interface InstanceProcessOptions {
  instanceId: string;
  /** The script the instance's service runs (node), e.g. dist/apps/classifier-worker/main.js. */
  main: string;
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  /** Holds the `shutdown` command the instance's processes see first on their PATH. */
  binDir: string;
  /** Systemd's RestartSec: a crash (non-zero exit) restarts the service after this long. */
  restartDelayMs: number;
  /** Systemd's StartLimitBurst within StartLimitIntervalSec: more failures than this power the instance off. */
  startLimitBurst: number;
  startLimitIntervalMs: number;
}

/**
 * The worker service of one instance, as deploy/systemd/classifier-worker.service
 * runs it: a clean exit (0) powers the instance off, a crash restarts it after
 * RestartSec, and too many crashes power it off too. `onPowerOff` is told once.
 */
export class InstanceProcess {
  private child?: ChildProcess;
  private starts: number[] = [];
  private restartTimer?: NodeJS.Timeout;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: InstanceProcessOptions,
    private readonly onPowerOff: (reason: string) => void,
    private readonly log: (msg: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopping) return;
    this.starts = [...this.starts.filter((t) => Date.now() - t < this.o.startLimitIntervalMs), Date.now()];
    const fd = openSync(this.o.logFile, 'a');
    try {
      const child = spawn(process.execPath, [this.o.main], {
        cwd: this.o.cwd,
        env: { ...this.o.env, PATH: instancePath(this.o.binDir, this.o.env['PATH'] ?? process.env['PATH'] ?? '') },
        stdio: ['ignore', fd, fd],
      });
      this.child = child;
      this.exited = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          this.child = undefined;
          resolve();
          this.onExit(code, signal);
        });
        child.once('error', (err) => this.log(`${this.o.instanceId}: cannot start the worker: ${err.message}`));
      });
      this.log(`${this.o.instanceId}: worker started (pid ${child.pid})`);
    } finally {
      closeSync(fd);
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.log(`${this.o.instanceId}: worker exited (${signal ?? `code ${code}`})`);
    if (this.stopping) return;
    if (code === 0) return this.onPowerOff('the worker service exited 0 (SuccessAction=poweroff)');
    if (this.starts.length >= this.o.startLimitBurst) {
      return this.onPowerOff(`the worker service failed ${this.starts.length} times (FailureAction=poweroff)`);
    }
    this.restartTimer = setTimeout(() => this.start(), this.o.restartDelayMs);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * The shim first, and no sbin directory at all: even if the shim were gone, an
 * instance's `shutdown` would find nothing rather than this machine's own.
 */
export function instancePath(binDir: string, path: string): string {
  return [binDir, ...path.split(':').filter((d) => d !== '' && !/\/sbin\/?$/.test(d))].join(':');
}

/**
 * A `shutdown` command for the instances' processes, first on their PATH: it
 * asks the stand-in to power the calling instance off (instance-initiated
 * shutdown, found by the instance's own metadata endpoint) instead of reaching
 * the real `shutdown` of the development machine.
 */
export function writeShutdownShim(binDir: string): void {
  mkdirSync(binDir, { recursive: true });
  const script = `#!/bin/sh
# EC2 stand-in: an instance's "shutdown" powers off its stand-in instance, never this machine.
exec "${process.execPath}" -e 'fetch(process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT + "/_standin/shutdown", { method: "POST" }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'
`;
  const file = join(binDir, 'shutdown');
  writeFileSync(file, script);
  chmodSync(file, 0o755);
}
