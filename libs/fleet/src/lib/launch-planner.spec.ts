import { RetryableError } from '@app/aws';
import type { WorkerInstance } from './fleet';
import { Backoff } from './launch-backoff';
import { LaunchPlanner } from './launch-planner';
import { OnePerMessagePolicy, WorkPerWorkerPolicy, type ScalingPolicy } from './scaling-policy';

const depth = (visible: number, inFlight = 0) => ({ visible, inFlight, delayed: 0 });
const worker = (id: string, at: number, state: WorkerInstance['state'] = 'pending'): WorkerInstance => ({
  id,
  state,
  launchedAt: new Date(at),
  busy: false,
});
const planner = (policy: ScalingPolicy = new OnePerMessagePolicy(), maxWorkers = 5) =>
  new LaunchPlanner({
    policy,
    maxWorkers,
    worker: { concurrency: 1, prefetch: 20, imageSeconds: 1, bootSeconds: 30 },
    targetBacklogPerWorker: 1,
    inFlightMs: 60_000,
    backoff: { minMs: 1000, maxMs: 8000, jitter: false },
  });

describe('LaunchPlanner', () => {
  it('counts its launches as pending until the fleet lists them, so a lagging list cannot overshoot', () => {
    const p = planner();
    const first = p.plan(0, depth(10), []);
    expect(first.decision).toMatchObject({ action: 'launch', count: 5 });
    p.launched(10, 5, ['i-1', 'i-2', 'i-3', 'i-4', 'i-5'].map((id) => worker(id, 10)));
    // The fleet lists none of them yet (describe lag): still 5 alive, nothing more to launch.
    const lagging = p.plan(1000, depth(10), []);
    expect(lagging.decision).toMatchObject({ action: 'hold', count: 0, alive: 5, rule: 'at-max-workers' });
    expect(lagging.workers).toMatchObject({ pending: 5, alive: 5 });
    // Two listed (and running), three still remembered: 5, not 7.
    const partly = p.plan(2000, depth(10), [worker('i-1', 10, 'running'), worker('i-2', 10, 'running')]);
    expect(partly.workers).toMatchObject({ running: 2, pending: 3, alive: 5 });
    expect(p.unlisted.map((w) => w.id)).toEqual(['i-3', 'i-4', 'i-5']);
  });

  it('forgets a launch the fleet never lists after LAUNCH_IN_FLIGHT_SECONDS, and says so', () => {
    const p = planner();
    p.launched(0, 1, [worker('i-lost', 0)]);
    expect(p.plan(60_000, depth(1), []).decision).toMatchObject({ action: 'hold', alive: 1 });
    const later = p.plan(60_001, depth(1), []);
    expect(later.expired.map((w) => w.id)).toEqual(['i-lost']);
    expect(later.decision).toMatchObject({ action: 'launch', count: 1, alive: 0 });
  });

  it('gives pending workers their remaining boot time, so the policy counts what they will do', () => {
    const p = planner(new WorkPerWorkerPolicy(), 20);
    p.launched(0, 5, ['a', 'b', 'c', 'd', 'e'].map((id) => worker(id, 0)));
    // 10 s later each will take 20 at boot and finish 10 more before a new worker could: 150.
    expect(p.plan(10_000, depth(150), []).decision).toMatchObject({ action: 'hold', rule: 'fleet-suffices' });
    expect(p.plan(10_000, depth(200), []).decision).toMatchObject({ action: 'launch', count: 3 });
  });

  it('tells the policy how the backlog grew over the last boot time, so a fleet that does not keep up grows', () => {
    const p = planner(new WorkPerWorkerPolicy(), 20);
    const busy = [worker('i-1', 0, 'running'), worker('i-2', 0, 'running')].map((w) => ({ ...w, busy: true }));
    // Two busy workers drain 60 in a boot: 50 waiting is theirs.
    expect(p.plan(0, depth(50), busy).decision).toMatchObject({ action: 'hold', rule: 'fleet-suffices' });
    expect(p.plan(15_000, depth(60), busy).decision).toMatchObject({ action: 'hold' });
    // 30 s on, 30 more than at the start: they are not keeping up.
    expect(p.plan(30_000, depth(80), busy).decision).toMatchObject({ action: 'launch', count: 4, reason: expect.stringContaining('up 30 in 30 s') });
  });

  it('backs off the shortfall of a short launch, doubling, and launches again once it has waited', () => {
    const p = planner();
    p.plan(0, depth(5), []);
    const short = p.launched(0, 5, [worker('i-1', 0)]);
    expect(short).toMatchObject({ launched: 1, requested: 5, backoff: { waitMs: 1000 } });
    expect(short.backoff?.reason).toBe('a short launch (1 of 5: not enough capacity)');
    const waiting = p.plan(500, depth(5), [worker('i-1', 0)]);
    expect(waiting.decision).toMatchObject({ action: 'hold', count: 0, rule: 'backoff', desired: 5 });
    expect(waiting.decision.reason).toBe('4 more wanted, launching again in 0.5 s after a short launch (1 of 5: not enough capacity)');
    expect(p.plan(1000, depth(5), [worker('i-1', 0)]).decision).toMatchObject({ action: 'launch', count: 4 });
    // Short again: twice as long.
    expect(p.launched(1000, 4, []).backoff?.waitMs).toBe(2000);
    expect(p.plan(2999, depth(5), [worker('i-1', 0)]).decision.rule).toBe('backoff');
    expect(p.plan(3000, depth(5), [worker('i-1', 0)]).decision).toMatchObject({ action: 'launch', count: 4 });
    expect(p.backingOff).toMatchObject({ failures: 2 });
    // A full launch clears it.
    p.launched(3000, 4, ['i-2', 'i-3', 'i-4', 'i-5'].map((id) => worker(id, 3000)));
    expect(p.backingOff).toBeUndefined();
  });

  it('backs off a failed launch (throttled) up to the maximum', () => {
    const p = planner();
    const waits = [0, 1, 2, 3, 4, 5].map(() => p.failed(0, 5, new RetryableError('ec2.RunInstances: RequestLimitExceeded', 'ec2.RunInstances')).backoff?.waitMs);
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(p.plan(7999, depth(5), []).decision).toMatchObject({
      action: 'hold',
      rule: 'backoff',
      reason: '5 more wanted, launching again in 0.0 s after a failed launch of 5 (ec2.RunInstances: RequestLimitExceeded)',
    });
  });

  it('does not back off a hold', () => {
    const p = planner();
    p.failed(0, 5, new Error('boom'));
    expect(p.plan(10, depth(0), []).decision).toMatchObject({ action: 'hold', rule: 'no-backlog' });
  });
});

describe('Backoff', () => {
  it('refuses a schedule that cannot work', () => {
    expect(() => new Backoff({ minMs: 0, maxMs: 10, jitter: false })).toThrow('back-off needs 0 < minMs <= maxMs (got 0, 10)');
    expect(() => new Backoff({ minMs: 20, maxMs: 10, jitter: false })).toThrow(RangeError);
  });

  it('spreads waits between 1x and 2x with jitter', () => {
    const b = new Backoff({ minMs: 1000, maxMs: 100_000, jitter: true });
    const first = b.fail(0, 'x');
    const second = b.fail(0, 'x');
    expect(first).toBeGreaterThanOrEqual(1000);
    expect(first).toBeLessThanOrEqual(2000);
    expect(second).toBeGreaterThanOrEqual(2000);
    expect(second).toBeLessThanOrEqual(4000);
  });
});
