import { ReceiveGate } from './receive-gate';

/** A gate over a room the test sets, as the budget would report it. */
function gate(gatherMs = 200, want = 10) {
  let room = 0;
  const listeners = new Set<() => void>();
  const g = new ReceiveGate({ room: () => room, want: () => want, onChange: (fn) => (listeners.add(fn), () => listeners.delete(fn)), gatherMs });
  const setRoom = (n: number) => {
    room = n;
    for (const fn of [...listeners]) fn();
  };
  return { g, setRoom, listeners };
}

/** Whether the promise has settled, after the microtasks that are due have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await jest.advanceTimersByTimeAsync(0);
  return done;
}

describe('ReceiveGate', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('opens at once when there is room for a receive worth its call', async () => {
    const { g, setRoom } = gate();
    setRoom(10);
    await expect(g.open()).resolves.toBe(true);
  });

  it('with room for a few, gathers for at most gatherMs, then opens: a quiet tenant\'s message waits no longer for the next receive', async () => {
    const { g, setRoom } = gate(200);
    setRoom(3);
    const opened = g.open();
    await jest.advanceTimersByTimeAsync(199);
    expect(await settled(opened)).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await expect(opened).resolves.toBe(true);
  });

  it('counts the gather time from when the first place freed, not from when it was asked', async () => {
    const { g, setRoom, listeners } = gate(200);
    const opened = g.open();
    // A full worker waits for a place however long it takes.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(await settled(opened)).toBe(false);
    setRoom(1);
    await jest.advanceTimersByTimeAsync(150);
    expect(await settled(opened)).toBe(false);
    await jest.advanceTimersByTimeAsync(50);
    await expect(opened).resolves.toBe(true);
    expect(listeners.size).toBe(0);
  });

  it('opens as soon as room reaches a full share, before the gather time ends', async () => {
    const { g, setRoom } = gate(200);
    setRoom(2);
    const opened = g.open();
    await jest.advanceTimersByTimeAsync(50);
    setRoom(10);
    expect(await settled(opened)).toBe(true);
  });

  it('starts the gather time again when the room is taken back to nothing', async () => {
    const { g, setRoom } = gate(200);
    setRoom(1);
    const opened = g.open();
    await jest.advanceTimersByTimeAsync(150);
    setRoom(0);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await settled(opened)).toBe(false);
    setRoom(1);
    await jest.advanceTimersByTimeAsync(200);
    await expect(opened).resolves.toBe(true);
  });

  it('answers false when stopped while waiting, and leaves no listener behind', async () => {
    const { g, listeners } = gate(200);
    const stop = new AbortController();
    const opened = g.open(stop.signal);
    stop.abort();
    await expect(opened).resolves.toBe(false);
    expect(listeners.size).toBe(0);
  });
});
