import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SupervisedApp, type SupervisorEvent } from './supervisor';

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

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SupervisedApp', () => {
  const apps: SupervisedApp[] = [];
  afterEach(async () => {
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
    await waitFor(() => app.pid !== 0 && app.pid !== first, 5_000);
    await waitFor(() => log().split('ready').length - 1 === 2, 5_000);

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

    await app.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    await new Promise((r) => setTimeout(r, 1000));
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
    process.kill(pid, 'SIGTERM');
    await waitFor(() => app.pid === 0, 5_000);
    await new Promise((r) => setTimeout(r, 1000)); // longer than the first restart delay
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
