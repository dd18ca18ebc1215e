import { PendingTimers } from './timers';

describe('PendingTimers', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs each callback once after its delay, and forgets it', () => {
    const timers = new PendingTimers();
    const ran: string[] = [];
    timers.after(100, () => ran.push('boot'));
    timers.after(50, () => ran.push('notice'));
    expect(timers.size).toBe(2);
    jest.advanceTimersByTime(60);
    expect(ran).toEqual(['notice']);
    jest.advanceTimersByTime(60);
    expect(ran).toEqual(['notice', 'boot']);
    expect(timers.size).toBe(0);
  });

  it('cancels every pending callback at once', () => {
    const timers = new PendingTimers();
    const ran: string[] = [];
    timers.after(100, () => ran.push('boot'));
    timers.after(200, () => ran.push('reclaim'));
    timers.cancelAll();
    jest.advanceTimersByTime(1000);
    expect(ran).toEqual([]);
    expect(timers.size).toBe(0);
  });
});
