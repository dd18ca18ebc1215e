import { FaultWindows, type FaultWindow } from './fault-windows';

function recorder() {
  const events: string[] = [];
  const window = (name: string, atMs: number, forMs: number): FaultWindow => ({
    name,
    atMs,
    forMs,
    begin: () => events.push(`${name} begin`),
    end: () => events.push(`${name} end`),
  });
  return { events, window };
}

describe('FaultWindows', () => {
  it('begins each failure when its time comes and ends it after its span, once each', () => {
    const { events, window } = recorder();
    const w = new FaultWindows([window('edge cut', 1000, 3000), window('s3 brownout', 2000, 120_000)]);
    for (const t of [0, 999, 1000, 1500, 2000, 3999, 4000, 5000]) w.tick(t);
    expect(events).toEqual(['edge cut begin', 's3 brownout begin', 'edge cut end']);
    w.tick(122_000);
    w.tick(130_000);
    expect(events).toEqual(['edge cut begin', 's3 brownout begin', 'edge cut end', 's3 brownout end']);
    expect(w.heldSeconds()).toEqual({ 'edge cut': 3, 's3 brownout': 120 });
  });

  it('ends what still holds when the run is over, and never begins a window of no length', () => {
    const { events, window } = recorder();
    const w = new FaultWindows([window('ec2 throttle', 0, 60_000), window('edge cut', 0, 0), window('later', 90_000, 1000)]);
    w.tick(10);
    w.endAll(25_000);
    w.tick(100_000);
    expect(events).toEqual(['ec2 throttle begin', 'ec2 throttle end']);
    expect(w.heldSeconds()).toEqual({ 'ec2 throttle': 25, 'edge cut': 0, later: 0 });
  });
});
