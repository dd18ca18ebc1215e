import { execFile } from 'node:child_process';

/** Whether the app's consumers and loops make progress, at `now` (ms); `reason` says why not. */
export type LivenessProbe = (now: number) => { healthy: boolean; reason?: string };

/** Sends one sd_notify state ("WATCHDOG=1") to the service manager. */
export type Notify = (state: string) => Promise<void>;

export interface SystemdWatchdogOptions {
  probe: LivenessProbe;
  notify: Notify;
  /** How often to probe (and ping when healthy): half the watchdog period, as sd_watchdog_enabled advises. */
  intervalMs: number;
  now?: () => number;
  /** Told when the pings stop or start again, and why (once per change, not every interval). */
  log?: (message: string) => void;
}

/**
 * systemd's watchdog, fed only while the app makes progress: every interval the
 * probe is asked, and only a healthy answer sends `WATCHDOG=1`. A consumer that
 * stopped receiving, handlers that all hung, a scaling loop that no longer ticks:
 * no ping, and after `WatchdogSec` systemd kills and restarts the unit. A live
 * event loop alone proves nothing, so the ping is never sent unconditionally.
 */
export class SystemdWatchdog {
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  /** Not pinging since the last probe (told once, when it starts, not every interval). */
  private stalled = false;
  private pinging?: Promise<void>;
  /** Pings sent; for tests and the log. */
  pings = 0;

  constructor(private readonly options: SystemdWatchdogOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError(`intervalMs must be positive (got ${options.intervalMs})`);
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One probe, and a ping when healthy. Never throws: a failed ping is the same as none. */
  async tick(): Promise<boolean> {
    let verdict: { healthy: boolean; reason?: string };
    try {
      verdict = this.options.probe(this.now());
    } catch (err) {
      verdict = { healthy: false, reason: `liveness probe failed: ${(err as Error).message}` };
    }
    if (!verdict.healthy) {
      if (!this.stalled) this.options.log?.(`watchdog: not pinging systemd (${verdict.reason ?? 'no progress'})`);
      this.stalled = true;
      return false;
    }
    if (this.stalled) this.options.log?.('watchdog: progressing again, pinging systemd');
    this.stalled = false;
    // One ping at a time: a hung notifier must not pile up processes.
    if (this.pinging) return false;
    this.pinging = this.options.notify('WATCHDOG=1').then(
      () => {
        this.pings++;
      },
      (err: Error) => this.options.log?.(`watchdog: ping failed: ${err.message}`),
    );
    await this.pinging.finally(() => (this.pinging = undefined));
    return true;
  }
}

/** What a queue consumer says of itself (libs/aws QueueConsumer.health). */
export interface ConsumerWithHealth {
  health(
    unhealthyAfterMs: number,
    now?: number,
  ): { healthy: boolean; reason?: string; status?: { state: string; failingSince?: Date } };
}

/**
 * How long a consumer may keep failing its receives (an S3 or SQS brownout: its
 * loop alive, backing off and retrying) before a restart is worth what it cuts
 * (a web tier's held requests): a restart mends little in an outage.
 */
export const OUTAGE_TOLERANCE_MS = 10 * 60_000;

/**
 * A probe over queue consumers: alive while there is at least one and each one
 * makes progress (QueueConsumer.health's own bounds), or is riding out failing
 * receives for less than `outageToleranceMs`. Stopped, or stalled with its
 * receives working (every handler hung): not alive.
 */
export function consumersProbe(consumers: () => ConsumerWithHealth[], unhealthyAfterMs: number, outageToleranceMs = OUTAGE_TOLERANCE_MS): LivenessProbe {
  return (now) => {
    const all = consumers();
    if (all.length === 0) return { healthy: false, reason: 'no queue consumer is running' };
    const problems = all
      .map((c) => c.health(unhealthyAfterMs, now))
      .filter((h) => !h.healthy)
      .filter((h) => !(h.status?.state === 'running' && h.status.failingSince && now - h.status.failingSince.getTime() < outageToleranceMs));
    return problems.length === 0 ? { healthy: true } : { healthy: false, reason: problems.map((p) => p.reason).join('; ') };
  };
}

/**
 * The probe interval for the watchdog systemd configured for this process
 * (WatchdogSec sets WATCHDOG_USEC, and WATCHDOG_PID to the main process), or
 * undefined when there is none: not under systemd, no WatchdogSec, no notify
 * socket (NotifyAccess), or the variables meant for another process.
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!env['NOTIFY_SOCKET'] || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env['WATCHDOG_PID'] !== undefined && Number(env['WATCHDOG_PID']) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 1000 / 2));
}

/**
 * sd_notify through systemd's own `systemd-notify` (Node has no datagram Unix
 * sockets, and the npm bindings are native addons that need a compiler at
 * install). It waits until the service manager has read the message (a
 * barrier, systemd 246 and later), so the message is attributed to the unit
 * even though it comes from a child process (the unit's NotifyAccess=all).
 */
export function systemdNotify(command = 'systemd-notify', timeoutMs = 10_000): Notify {
  return (state) =>
    new Promise((resolve, reject) => {
      execFile(command, [state], { timeout: timeoutMs }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`${command} ${state}: ${stderr.trim() || err.message}`));
        else resolve();
      });
    });
}
