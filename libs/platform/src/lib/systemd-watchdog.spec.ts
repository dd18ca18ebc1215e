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
  /** Stalls (no progress) from `stalledAt`; with `failing`, because its receives fail from then on. */
  const consumer = (stalledAt: number, o: { failing?: boolean; state?: string } = {}) => ({
    health: (bound: number, now = 0) => {
      const status = { state: o.state ?? 'running', failingSince: o.failing ? new Date(stalledAt) : undefined };
      return now - stalledAt > bound || status.state !== 'running'
        ? { healthy: false, reason: `${o.failing ? 'failing' : 'stalled'} since ${stalledAt}`, status }
        : { healthy: true, status };
    },
  });

  it('is healthy only while every consumer progresses, and never with none running or one stopped', () => {
    const probe = consumersProbe(() => [consumer(0), consumer(50_000)], 60_000);
    expect(probe(55_000)).toEqual({ healthy: true });
    expect(probe(70_000)).toEqual({ healthy: false, reason: 'stalled since 0' });
    expect(consumersProbe(() => [], 60_000)(0)).toEqual({ healthy: false, reason: 'no queue consumer is running' });
    expect(consumersProbe(() => [consumer(1_000_000, { state: 'stopped' })], 60_000)(0)).toMatchObject({ healthy: false });
  });

  it('rides out failing receives (an outage) up to its tolerance, then is not alive', () => {
    const probe = consumersProbe(() => [consumer(0, { failing: true })], 60_000, 600_000);
    expect(probe(120_000)).toEqual({ healthy: true });
    expect(probe(599_000)).toEqual({ healthy: true });
    expect(probe(601_000)).toEqual({ healthy: false, reason: 'failing since 0' });
  });
});
