// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- respawn ships no types, and projects that import this file must see ours
/// <reference path="./types/respawn.d.ts" />
import { closeSync, openSync, readFileSync } from 'node:fs';
import respawn from 'respawn';

/** Restart delays after a crash: quick at first, then no faster than every 5 s (systemd's RestartSec). */
export const RESTART_DELAYS_MS = [250, 500, 1000, 2000, 5000];
/** The longest timer Node keeps: a restart that never comes (stop() clears it). */
const NEVER_MS = 2 ** 31 - 1;

export interface SupervisedAppOptions {
  /** The app (APP_NAME, and its "<name> ready" line). */
  name: string;
  /** Which copy, when several of one app run (`web-tier-2`): named so in events. Default: `name`. */
  label?: string;
  /** The built artifact, run with this Node. */
  main: string;
  cwd: string;
  env: Record<string, string>;
  /** stdout and stderr of every run are appended here. */
  logFile: string;
  /** Ms from SIGTERM to SIGKILL when stopped. */
  stopGraceMs: number;
  /** Told of every crash and restart (npm start prints them). */
  onEvent?: (event: SupervisorEvent) => void;
}

export type SupervisorEvent =
  | { app: string; kind: 'crashed'; code: number | null; signal: string | null; restarts: number }
  | { app: string; kind: 'restarted'; pid: number; restarts: number };

/**
 * One control app kept running the way systemd's `Restart=always` keeps it on
 * the control host: when it exits by itself (crash, SIGKILL, fatal error) it is
 * started again after a short back-off; only `stop()` ends it. Each app picks up
 * where it was from S3 and SQS alone, so a restart loses no work.
 */
export class SupervisedApp {
  private readonly monitor: ReturnType<typeof respawn>;
  private readonly logFd: number;
  private stopping = false;
  private starts = 0;
  /** Times the app was started again after exiting by itself. */
  restarts = 0;

  constructor(private readonly o: SupervisedAppOptions) {
    this.logFd = openSync(o.logFile, 'a');
    this.monitor = respawn([process.execPath, o.main], {
      name: o.name,
      cwd: o.cwd,
      env: { ...o.env, APP_NAME: o.name },
      maxRestarts: -1,
      // Once stopping, an app that exits (Ctrl-C reaches the whole process group) is not started again.
      sleep: (n) => (this.stopping ? NEVER_MS : RESTART_DELAYS_MS[Math.min(n, RESTART_DELAYS_MS.length) - 1]),
      kill: o.stopGraceMs,
      stdio: ['ignore', this.logFd, this.logFd],
    });
    this.monitor.on('spawn', (child) => {
      this.starts += 1;
      if (this.starts > 1) {
        this.restarts += 1;
        o.onEvent?.({ app: this.label, kind: 'restarted', pid: child.pid ?? 0, restarts: this.restarts });
      }
    });
    this.monitor.on('exit', (code, signal) => {
      if (!this.stopping) o.onEvent?.({ app: this.label, kind: 'crashed', code, signal, restarts: this.restarts });
    });
    // respawn reports a failed spawn as a warning and retries; nothing to add.
    this.monitor.on('warn', () => undefined);
  }

  get name(): string {
    return this.o.name;
  }

  /** This copy's name (`web-tier-2`), or the app's when it runs once. */
  get label(): string {
    return this.o.label ?? this.o.name;
  }

  /** The current process, 0 between a crash and its restart. */
  get pid(): number {
    const child = this.monitor.child;
    return child && child.exitCode === null && child.signalCode === null ? (child.pid ?? 0) : 0;
  }

  start(): void {
    this.monitor.start();
  }

  /** Resolves when the app's log says it is ready (its current run), rejects if it keeps failing to start. */
  async waitForReady(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    const readyLine = `${this.o.name} ready`;
    const offset = this.logLength();
    while (Date.now() < end) {
      const log = readFileSync(this.o.logFile, 'utf8');
      if (log.slice(offset).includes(readyLine)) return;
      // A configuration error makes it exit at once, every time: say so instead of restarting for ever.
      if (this.restarts >= 2) {
        throw new Error(`${this.o.name} exited while starting; last lines of ${this.o.logFile}:\n${log.split('\n').slice(-15).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.o.name} was not ready within ${timeoutMs} ms (see ${this.o.logFile})`);
  }

  /**
   * No more restarts from now on, and exits are no longer reported as crashes:
   * the whole system is stopping (its apps are then stopped one by one, and may
   * already be exiting on a Ctrl-C of their own).
   */
  prepareStop(): void {
    this.stopping = true;
  }

  /** SIGTERM (then SIGKILL after the grace period) and no more restarts. */
  stop(): Promise<void> {
    this.stopping = true;
    return new Promise<void>((res) => this.monitor.stop(() => res())).finally(() => {
      try {
        closeSync(this.logFd);
      } catch {
        // already closed
      }
    });
  }

  private logLength(): number {
    try {
      return readFileSync(this.o.logFile, 'utf8').length;
    } catch {
      return 0;
    }
  }
}
