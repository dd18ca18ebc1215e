import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@tools/testing/eventually';
import { RESTART_DELAYS_MS, SupervisedApp, type SupervisorEvent } from './supervisor';

/** A tiny app: says it is ready, then waits; exits at once when told to fail. */
function writeApp(dir: string): string {
  const main = join(dir, 'app.js');
  writeFileSync(
    main,
    `if (process.env.FAIL_AT_START) { console.error('bad config'); process.exit(1); }
     console.log(process.env.APP_NAME + ' ready pid=' + process.pid);
     process.on('SIGTERM', () => { console.log('sigterm'); process.exit(0); });
     setInterval(() => {}, 1000);`,
  );
  return main;
}

/**
 * Lets restart timers run on a virtual clock: every back-off delay passes at once, so "not restarted"
 * is shown by the clock passing them all, not by waiting them out. Process exits and log reads stay real.
 */
function virtualRestartClock(): void {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
}

/** Until the app's process has exited (a real event), moving the virtual clock along meanwhile; needs virtualRestartClock(). */
async function exitOf(app: SupervisedApp): Promise<void> {
  while (app.pid !== 0) await jest.advanceTimersByTimeAsync(1);
}

/** Longer than every restart delay: a restart that was going to happen has happened. */
const PAST_EVERY_RESTART_DELAY_MS = Math.max(...RESTART_DELAYS_MS) + 1;

describe('SupervisedApp', () => {
  const apps: SupervisedApp[] = [];
  afterEach(async () => {
    jest.useRealTimers();
    await Promise.all(apps.splice(0).map((a) => a.stop()));
  });

  function supervise(env: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'supervisor-'));
    const events: SupervisorEvent[] = [];
    const app = new SupervisedApp({
      name: 'demo',
      main: writeApp(dir),
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      logFile: join(dir, 'demo.log'),
      stopGraceMs: 2000,
      onEvent: (e) => events.push(e),
    });
    apps.push(app);
    return { app, events, log: () => readFileSync(join(dir, 'demo.log'), 'utf8') };
  }

  it('restarts an app killed with SIGKILL, and the new run says it is ready', async () => {
    const { app, events, log } = supervise();
    app.start();
    await app.waitForReady(10_000);
    const first = app.pid;
    expect(first).toBeGreaterThan(0);

    process.kill(first, 'SIGKILL');
    await until('the restarted process', () => app.pid !== 0 && app.pid !== first, 5_000);
    await until('the restarted run to say it is ready', () => log().split('ready').length - 1 === 2, 5_000);

    expect(app.restarts).toBe(1);
    expect(events).toEqual([
      { app: 'demo', kind: 'crashed', code: null, signal: 'SIGKILL', restarts: 0 },
      { app: 'demo', kind: 'restarted', pid: app.pid, restarts: 1 },
    ]);
  });

  it('stop() ends the app with SIGTERM and never restarts it', async () => {
    const { app, events, log } = supervise();
    app.start();
    await app.waitForReady(10_000);
    const pid = app.pid;

    virtualRestartClock();
    await app.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    await jest.advanceTimersByTimeAsync(PAST_EVERY_RESTART_DELAY_MS);
    expect(app.pid).toBe(0);
    expect(log()).toContain('sigterm');
    expect(events).toEqual([]);
  });

  it('once the system is stopping, an app that exits by itself (Ctrl-C reaches every process) is neither restarted nor reported', async () => {
    const { app, events } = supervise();
    app.start();
    await app.waitForReady(10_000);
    const pid = app.pid;
    app.prepareStop();
    virtualRestartClock();
    process.kill(pid, 'SIGTERM');
    await exitOf(app);
    await jest.advanceTimersByTimeAsync(PAST_EVERY_RESTART_DELAY_MS);
    expect(app.pid).toBe(0);
    expect(app.restarts).toBe(0);
    expect(events).toEqual([]);
    await app.stop();
  });

  it('an app that exits at every start fails waitForReady with its log, instead of restarting for ever unseen', async () => {
    const { app } = supervise({ FAIL_AT_START: '1' });
    app.start();
    await expect(app.waitForReady(20_000)).rejects.toThrow(/demo exited while starting[\s\S]*bad config/);
  });
});
