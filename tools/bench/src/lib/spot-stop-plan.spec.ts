import { StopPlan } from './spot-stop-plan';

const plan = new StopPlan({ interruptSeconds: 30, bootSeconds: 1, idleSeconds: 5, drainSeconds: 10, interruptions: 2 });
const s = (seconds: number) => seconds * 1000;

describe('StopPlan: when a steady load may stop so that every notice finds its worker busy', () => {
  it('puts the notice the interrupt time after the instance runs', () => {
    expect(plan.noticeAt({ launchedAt: s(10), live: true })).toBe(s(41));
  });

  it('waits for the number of notices asked for', () => {
    const first = [
      { launchedAt: s(0), live: false },
      { launchedAt: s(3), live: true },
      { launchedAt: s(31), live: true },
    ];
    // One notice by 32 s (the second comes at 34 s): not yet.
    expect(plan.noticed(first, s(32))).toBe(1);
    expect(plan.mayStop(first, s(32))).toBe(false);
  });

  it('does not stop while a live worker has its notice within the drain and idle time: it would see it idle', () => {
    // Both first workers noticed (at 31 and 34 s), their replacements launched at 31 and 34 s.
    const fleet = [
      { launchedAt: s(0), live: false },
      { launchedAt: s(3), live: false },
      { launchedAt: s(31), live: true },
      { launchedAt: s(34), live: true },
    ];
    expect(plan.mayStop(fleet, s(35))).toBe(true);
    // At 50 s the first replacement's notice (62 s) is 12 s away, less than 10 + 5.
    expect(plan.mayStop(fleet, s(50))).toBe(false);
    // A replacement still to come after the last notice is young, and no obstacle.
    expect(plan.mayStop([...fleet.slice(0, 3), { launchedAt: s(34), live: false }], s(35))).toBe(true);
  });
});
