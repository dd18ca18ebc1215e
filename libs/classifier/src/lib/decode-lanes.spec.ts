import { DecodeLanes } from './decode-lanes';

/** A decode that ends when the test says. */
function gate<T = string>() {
  let open!: (value: T) => void;
  let fail!: (err: Error) => void;
  const done = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { started: false, open, fail, decode() { this.started = true; return done; } };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe('DecodeLanes', () => {
  it('decodes one image at a time while the model has work', async () => {
    const lanes = new DecodeLanes(4, () => false);
    const [a, b, c] = [gate(), gate(), gate()];
    const results = [a, b, c].map((g) => lanes.run(() => g.decode()));
    await settle();
    expect([a.started, b.started, c.started]).toEqual([true, false, false]);
    a.open('a');
    await settle();
    expect([b.started, c.started]).toEqual([true, false]);
    b.open('b');
    await settle();
    c.open('c');
    await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c']);
    expect(lanes.active).toBe(0);
  });

  it('opens up to max lanes while the model is idle, and no more', async () => {
    const lanes = new DecodeLanes(2, () => true);
    const gates = [gate(), gate(), gate()];
    const results = gates.map((g) => lanes.run(() => g.decode()));
    await settle();
    expect(gates.map((g) => g.started)).toEqual([true, true, false]);
    expect(lanes.active).toBe(2);
    gates[0].open('first');
    await settle();
    expect(gates[2].started).toBe(true);
    gates[1].open('second');
    gates[2].open('third');
    await expect(Promise.all(results)).resolves.toEqual(['first', 'second', 'third']);
  });

  it('starts waiting decodes when the model goes idle (wake), up to max', async () => {
    let idle = false;
    const lanes = new DecodeLanes(3, () => idle);
    const gates = [gate(), gate(), gate(), gate()];
    const results = gates.map((g) => lanes.run(() => g.decode()));
    await settle();
    expect(gates.map((g) => g.started)).toEqual([true, false, false, false]);
    idle = true;
    lanes.wake();
    await settle();
    expect(gates.map((g) => g.started)).toEqual([true, true, true, false]);
    // Busy again: a freed lane goes to the next decode only while fewer than one runs.
    idle = false;
    gates[0].open('0');
    await settle();
    expect(gates[3].started).toBe(false);
    gates[1].open('1');
    gates[2].open('2');
    await settle();
    expect(gates[3].started).toBe(true);
    gates[3].open('3');
    await expect(Promise.all(results)).resolves.toEqual(['0', '1', '2', '3']);
  });

  it('frees the lane of a decode that fails, and gives the failure to its caller only', async () => {
    const lanes = new DecodeLanes(1, () => false);
    const [bad, good] = [gate(), gate()];
    const failed = lanes.run(() => bad.decode());
    const next = lanes.run(() => good.decode());
    bad.fail(new Error('not an image'));
    await expect(failed).rejects.toThrow('not an image');
    await settle();
    expect(good.started).toBe(true);
    good.open('fine');
    await expect(next).resolves.toBe('fine');
    expect(lanes.active).toBe(0);
  });

  it('refuses a lane count that is not a whole number of at least 1', () => {
    expect(() => new DecodeLanes(0, () => true)).toThrow(RangeError);
    expect(() => new DecodeLanes(1.5, () => true)).toThrow(RangeError);
  });
});
