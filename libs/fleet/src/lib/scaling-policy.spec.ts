import type { FleetCounts } from './fleet';
import { OnePerMessagePolicy, ScalingPolicy, WorkPerWorkerPolicy, type WorkerCapacity } from './scaling-policy';

/** `running` busy workers, `pending` booting ones and `free` running ones with nothing in hand. */
const fleet = (running: number, pending = 0, free = 0): FleetCounts => ({
  pending,
  running: running + free,
  terminating: 0,
  busy: running,
  free,
  alive: running + pending + free,
});
const depth = (visible: number, inFlight = 0, delayed = 0) => ({ visible, inFlight, delayed });
/** The burst scenario's worker: one image at a time, 1 s each, 20 held, 30 s to boot. */
const worker: WorkerCapacity = { concurrency: 1, prefetch: 20, imageSeconds: 1, bootSeconds: 30 };

describe('WorkPerWorkerPolicy', () => {
  const policy = new WorkPerWorkerPolicy();
  // queue depth, running, pending (ready in s), MAX_WORKERS, worker → action, count, rule
  it.each([
    ['nothing queued', depth(0), 0, [], 20, worker, 'hold', 0, 'no-backlog'],
    ['one image from zero', depth(1), 0, [], 20, worker, 'launch', 1, 'scale-from-zero'],
    ['20 images: one worker takes them all', depth(20), 0, [], 20, worker, 'launch', 1, 'scale-from-zero'],
    ['21 images: a second worker gets one', depth(21), 0, [], 20, worker, 'launch', 2, 'scale-from-zero'],
    ['the burst: 100 images, 20 per worker', depth(100), 0, [], 20, worker, 'launch', 5, 'scale-from-zero'],
    ['1000 images, capped at MAX_WORKERS', depth(1000), 0, [], 20, worker, 'launch', 20, 'scale-from-zero'],
    ['1000 images, MAX_WORKERS 4', depth(1000), 0, [], 4, worker, 'launch', 4, 'scale-from-zero'],
    ['delayed (re-queued) images count as waiting', depth(0, 0, 30), 0, [], 20, worker, 'launch', 2, 'scale-from-zero'],
    ['all work held by running workers', depth(0, 100), 5, [], 20, worker, 'hold', 0, 'fleet-suffices'],
    ['2 full workers drain 60 before a new one boots', depth(30, 40), 2, [], 20, worker, 'hold', 0, 'fleet-suffices'],
    ['2 full workers leave 40 of 100', depth(100, 40), 2, [], 20, worker, 'launch', 2, 'scale-out'],
    ['a busy worker is taken as full: 30 of 55 drained', depth(55), 1, [], 20, worker, 'launch', 2, 'scale-out'],
    ['5 just launched take the 100 when they boot', depth(100), 0, [30, 30, 30, 30, 30], 20, worker, 'hold', 0, 'fleet-suffices'],
    ['5 launched 10 s ago also finish 10 each first', depth(150), 0, [20, 20, 20, 20, 20], 20, worker, 'hold', 0, 'fleet-suffices'],
    ['...and leave 50 of 200 for 3 more', depth(200), 0, [20, 20, 20, 20, 20], 20, worker, 'launch', 3, 'scale-out'],
    ['a pending worker with no known age counts as a full boot away', depth(100), 0, [undefined], 20, worker, 'launch', 4, 'scale-out'],
    ['at MAX_WORKERS', depth(1000), 20, [], 20, worker, 'hold', 0, 'at-max-workers'],
    ['above MAX_WORKERS (lowered at runtime)', depth(1000), 25, [], 20, worker, 'hold', 0, 'at-max-workers'],
    ['prefetch 5 spreads 100 images over 20 workers', depth(100), 0, [], 20, { ...worker, prefetch: 5 }, 'launch', 20, 'scale-from-zero'],
    ['fast images: one worker drains 500 before a boot', depth(500, 20), 1, [], 20, { ...worker, imageSeconds: 0.01 }, 'hold', 0, 'fleet-suffices'],
    ['concurrency 4 drains 120 in a boot, leaving 80', depth(200, 20), 1, [], 20, { ...worker, concurrency: 4 }, 'launch', 4, 'scale-out'],
    ['concurrency above prefetch is bounded by it', depth(70, 2), 1, [], 20, { ...worker, concurrency: 8, prefetch: 2 }, 'launch', 5, 'scale-out'],
    ['boot time 0: only what the fleet cannot hold', depth(50, 20), 1, [], 20, { ...worker, bootSeconds: 0 }, 'launch', 3, 'scale-out'],
  ] as const)('%s', (_name, d, running, readyIn, max, w, action, count, rule) => {
    const decision = policy.decide({
      depth: d,
      fleet: fleet(running, readyIn.length),
      pendingReadyInSeconds: (readyIn as readonly (number | undefined)[]).filter((r): r is number => r !== undefined),
      maxWorkers: max,
      worker: w,
      targetBacklogPerWorker: 1,
    });
    expect(decision).toMatchObject({ action, count, rule, policy: 'work-per-worker' });
    expect(running + readyIn.length + decision.count).toBeLessThanOrEqual(Math.max(max, running + readyIn.length));
  });

  it('counts a free worker as taking a full prefetch at once', () => {
    const input = { fleet: fleet(0, 0, 1), maxWorkers: 20, worker, targetBacklogPerWorker: 1 };
    expect(policy.decide({ ...input, depth: depth(50) })).toMatchObject({ action: 'hold', rule: 'fleet-suffices' });
    expect(policy.decide({ ...input, depth: depth(55) })).toMatchObject({ action: 'launch', count: 1, rule: 'scale-out' });
  });

  it('counts running workers as draining nothing when the backlog grew by more than a prefetch over a boot time', () => {
    const input = { depth: depth(500), fleet: fleet(17), maxWorkers: 20, worker, targetBacklogPerWorker: 1 };
    // 17 busy workers would drain 510 in a boot...
    expect(policy.decide(input)).toMatchObject({ action: 'hold', rule: 'fleet-suffices' });
    expect(policy.decide({ ...input, backlogGrowth: 20 })).toMatchObject({ action: 'hold', rule: 'fleet-suffices' });
    expect(policy.decide({ ...input, backlogGrowth: -200 })).toMatchObject({ action: 'hold', rule: 'fleet-suffices' });
    // ...but the backlog grew by 100 meanwhile: new uploads take all they do.
    expect(policy.decide({ ...input, backlogGrowth: 100 })).toMatchObject({
      action: 'launch',
      count: 3,
      desired: 42,
      reason: 'scale out: 500 waiting, up 100 in 30 s, 500 left after 30 s of boot for the 17 alive: 25 more at up to 20 each',
    });
    // Growth with no worker running says nothing of the workers.
    expect(policy.decide({ ...input, fleet: fleet(0, 0, 1), depth: depth(15), backlogGrowth: 100 })).toMatchObject({ action: 'hold' });
  });

  it('says why, with the figures it used', () => {
    const d = policy.decide({ depth: depth(100, 40), fleet: fleet(2), maxWorkers: 20, worker, targetBacklogPerWorker: 1 });
    expect(d.reason).toBe('scale out: 100 waiting, 40 left after 30 s of boot for the 2 alive: 2 more at up to 20 each');
    const h = policy.decide({ depth: depth(0, 100), fleet: fleet(5), maxWorkers: 20, worker, targetBacklogPerWorker: 1 });
    expect(h.reason).toBe('5 alive take nothing waiting (100 in flight, held by workers) before a new worker could boot (30 s)');
  });
});

describe('OnePerMessagePolicy (the old rule, kept for comparison)', () => {
  const policy = new OnePerMessagePolicy();
  // backlog (visible, in flight, delayed), workers alive, MAX_WORKERS, target per worker → action, count
  it.each([
    [depth(0), 0, 20, 1, 'hold', 0, 'no backlog'],
    [depth(1), 0, 20, 1, 'launch', 1, 'scale from zero: backlog 1 needs 1, 0 alive'],
    [depth(20), 0, 20, 1, 'launch', 20, 'scale from zero: backlog 20 needs 20, 0 alive'],
    [depth(100), 0, 20, 1, 'launch', 20, 'scale from zero: backlog 100 needs 100, 0 alive'],
    [depth(100), 0, 4, 1, 'launch', 4, 'scale from zero: backlog 100 needs 100, 0 alive'],
    [depth(5, 3, 2), 4, 20, 1, 'launch', 6, 'scale out: backlog 10 needs 10, 4 alive'],
    [depth(5), 5, 20, 1, 'hold', 0, 'backlog 5 needs 5, 5 alive'],
    [depth(50), 20, 20, 1, 'hold', 0, 'at MAX_WORKERS (20)'],
    [depth(50), 25, 20, 1, 'hold', 0, 'at MAX_WORKERS (20)'],
    [depth(10), 0, 20, 4, 'launch', 3, 'scale from zero: backlog 10 needs 3, 0 alive'],
    [depth(30), 18, 20, 1, 'launch', 2, 'scale out: backlog 30 needs 30, 18 alive'],
  ] as const)('%j with %i alive, max %i, target %i → %s %i', (d, alive, max, target, action, count, reason) => {
    const decision = policy.decide({ depth: d, fleet: fleet(alive), maxWorkers: max, worker, targetBacklogPerWorker: target });
    expect(decision).toMatchObject({ action, count, reason, policy: 'one-per-message' });
  });

  it('counts pending workers as alive, so a slow launch is not launched again', () => {
    const d = policy.decide({ depth: depth(3), fleet: fleet(0, 3), maxWorkers: 20, worker, targetBacklogPerWorker: 1 });
    expect(d).toMatchObject({ action: 'hold', count: 0 });
  });
});

describe('ScalingPolicy', () => {
  it('names both policies', () => {
    expect(ScalingPolicy.named('work-per-worker')).toBeInstanceOf(WorkPerWorkerPolicy);
    expect(ScalingPolicy.named('one-per-message')).toBeInstanceOf(OnePerMessagePolicy);
  });

  it('never asks for more than MAX_WORKERS alive, whatever the inputs', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const policy of [new WorkPerWorkerPolicy(), new OnePerMessagePolicy()]) {
      for (let i = 0; i < 2000; i++) {
        const max = 1 + rand(30);
        const running = rand(35);
        const pending = rand(10);
        const d = policy.decide({
          depth: depth(rand(3000), rand(400), rand(50)),
          fleet: fleet(running, pending),
          pendingReadyInSeconds: Array.from({ length: rand(pending + 1) }, () => rand(60)),
          maxWorkers: max,
          worker: { concurrency: 1 + rand(4), prefetch: 1 + rand(30), imageSeconds: 0.05 + rand(50) / 10, bootSeconds: rand(120) },
          targetBacklogPerWorker: 1 + rand(5),
        });
        expect(d.count).toBeGreaterThanOrEqual(0);
        if (d.count > 0) expect(running + pending + d.count).toBeLessThanOrEqual(max);
      }
    }
  });
});
