import type { FleetCounts } from './fleet';
import { ScalingPolicy } from './scaling-policy';

const fleet = (alive: number, running = alive): FleetCounts => ({
  pending: alive - running,
  running,
  terminating: 0,
  busy: running,
  free: 0,
  alive,
});
const depth = (visible: number, inFlight = 0, delayed = 0) => ({ visible, inFlight, delayed });

describe('ScalingPolicy.decide', () => {
  // backlog (visible, in flight, delayed), workers alive, MAX_WORKERS, target per worker → action, count
  it.each([
    [depth(0), 0, 20, 1, 'hold', 0, 'no backlog'],
    [depth(1), 0, 20, 1, 'launch', 1, 'scale from zero: backlog 1'],
    [depth(100), 0, 20, 1, 'launch', 20, 'scale from zero: backlog 100'],
    [depth(100), 0, 4, 1, 'launch', 4, 'scale from zero: backlog 100'],
    [depth(5, 3, 2), 4, 20, 1, 'launch', 6, 'backlog 10 needs 10, 4 alive'],
    [depth(5), 5, 20, 1, 'hold', 0, '5 alive meet the backlog of 5'],
    [depth(50), 20, 20, 1, 'hold', 0, 'at MAX_WORKERS (20)'],
    [depth(50), 25, 20, 1, 'hold', 0, 'at MAX_WORKERS (20)'],
    [depth(10), 0, 20, 4, 'launch', 3, 'scale from zero: backlog 10'],
    [depth(0, 0, 7), 0, 20, 1, 'launch', 7, 'scale from zero: backlog 7'],
    [depth(30), 18, 20, 1, 'launch', 2, 'backlog 30 needs 20, 18 alive'],
  ] as const)('%j with %i alive, max %i, target %i → %s %i', (d, alive, max, target, action, count, reason) => {
    const decision = ScalingPolicy.decide({ depth: d, fleet: fleet(alive), maxWorkers: max, targetBacklogPerWorker: target });
    expect(decision).toMatchObject({ action, count, reason });
    expect(alive + decision.count).toBeLessThanOrEqual(Math.max(max, alive));
  });

  it('counts pending workers as alive, so a slow launch is not launched again', () => {
    const d = ScalingPolicy.decide({ depth: depth(3), fleet: fleet(3, 0), maxWorkers: 20, targetBacklogPerWorker: 1 });
    expect(d).toMatchObject({ action: 'hold', count: 0 });
  });
});
