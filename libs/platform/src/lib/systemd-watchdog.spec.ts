import { consumersProbe, SystemdWatchdog, watchdogIntervalMs, type LivenessProbe } from './systemd-watchdog';

/** A loop that records its progress on a manual clock, probed as the apps probe theirs. */
function progressingLoop(stallAfterMs: number) {
  let clock = 0;
  let lastProgressAt = 0;
  const probe: LivenessProbe = (now) =>
    now - lastProgressAt <= stallAfterMs ? { healthy: true } : { healthy: false, reason: `no progress for ${(now - lastProgressAt) / 1000} s` };
  return {
    probe,
    now: () => clock,
    advance: (ms: number) => (clock += ms),
    progress: () => (lastProgressAt = clock),
  };
}

describe('SystemdWatchdog', () => {
  const setup = (stallAfterMs = 60_000) => {
    const loop = progressingLoop(stallAfterMs);
    const sent: string[] = [];
    const logged: string[] = [];
    const watchdog = new SystemdWatchdog({
      probe: loop.probe,
      notify: async (state) => {
        sent.push(state);
      },
      intervalMs: 15_000,
      now: loop.now,
      log: (m) => logged.push(m),
    });
    return { loop, sent, logged, watchdog };
  };

  it('pings WATCHDOG=1 while the loop makes progress', async () => {
    const { loop, sent, watchdog } = setup();
    for (let i = 0; i < 4; i++) {
      loop.advance(15_000);
      loop.progress();
      expect(await watchdog.tick()).toBe(true);
    }
    expect(sent).toEqual(['WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
    expect(watchdog.pings).toBe(4);
  });

  it('no progress: no ping, said once in the log; progress again: pings again', async () => {
    const { loop, sent, logged, watchdog } = setup();
    loop.progress();
    loop.advance(30_000);
    expect(await watchdog.tick()).toBe(true);
    // The loop hangs: time passes, nothing progresses.
    for (let i = 0; i < 4; i++) {
      loop.advance(15_000);
      await watchdog.tick();
    }
    // At 30, 45 and 60 s it was within its 60 s; at 75 and 90 s it had stalled.
    expect(sent).toEqual(['WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
    expect(logged).toEqual(['watchdog: not pinging systemd (no progress for 75 s)']);
    loop.progress();
    loop.advance(1_000);
    expect(await watchdog.tick()).toBe(true);
    expect(sent).toHaveLength(4);
    expect(logged[1]).toBe('watchdog: progressing again, pinging systemd');
  });

  it('a probe that throws, or a notifier that fails, is no ping and no crash', async () => {
    const sent: string[] = [];
    const logged: string[] = [];
    const throwing = new SystemdWatchdog({
      probe: () => {
        throw new Error('status unreadable');
      },
      notify: async (s) => void sent.push(s),
      intervalMs: 1000,
      log: (m) => logged.push(m),
    });
    expect(await throwing.tick()).toBe(false);
    expect(sent).toEqual([]);
    expect(logged).toEqual(['watchdog: not pinging systemd (liveness probe failed: status unreadable)']);
    const failing = new SystemdWatchdog({
      probe: () => ({ healthy: true }),
      notify: () => Promise.reject(new Error('no socket')),
      intervalMs: 1000,
      log: (m) => logged.push(m),
    });
    await failing.tick();
    expect(failing.pings).toBe(0);
    expect(logged).toContain('watchdog: ping failed: no socket');
  });

  it('ticks on its own every interval once started, and stops', async () => {
    jest.useFakeTimers();
    try {
      const { loop, sent, watchdog } = setup();
      loop.progress();
      watchdog.start();
      await jest.advanceTimersByTimeAsync(45_000);
      expect(sent).toHaveLength(3);
      watchdog.stop();
      await jest.advanceTimersByTimeAsync(45_000);
      expect(sent).toHaveLength(3);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('watchdogIntervalMs', () => {
  it('is half of WatchdogSec when systemd set a watchdog for this process', () => {
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000' }, 42)).toBe(30_000);
  });

  it('is undefined without a watchdog, without a notify socket, or for another process', () => {
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '7' }, 42)).toBeUndefined();
  });
});

describe('consumersProbe', () => {
  const consumer = (stalledAt: number) => ({
    health: (bound: number, now = 0) => (now - stalledAt > bound ? { healthy: false, reason: `stalled since ${stalledAt}` } : { healthy: true }),
  });

  it('is healthy only while every consumer is, and never with none running', () => {
    const consumers = [consumer(0), consumer(50_000)];
    const probe = consumersProbe(() => consumers, 60_000);
    expect(probe(55_000)).toEqual({ healthy: true });
    expect(probe(70_000)).toEqual({ healthy: false, reason: 'stalled since 0' });
    expect(consumersProbe(() => [], 60_000)(0)).toEqual({ healthy: false, reason: 'no queue consumer is running' });
  });
});
