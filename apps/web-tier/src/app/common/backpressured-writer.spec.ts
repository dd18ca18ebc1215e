import { Writable } from 'node:stream';
import { BackpressuredWriter } from './backpressured-writer';

/** A reader that takes a chunk only when the test says so (a client that stopped reading). */
function stalledReader() {
  const pending: (() => void)[] = [];
  const written: string[] = [];
  const out = new Writable({
    highWaterMark: 10,
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      pending.push(done);
    },
  });
  return { out, written, readOne: () => pending.shift()?.() };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('BackpressuredWriter (fake timers)', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  it('waits for drain once the buffer is full, and keeps the order', async () => {
    const r = stalledReader();
    const writer = new BackpressuredWriter(r.out, 30_000);
    expect(await writer.write('first event, longer than the buffer')).toBe(true);
    expect(writer.full).toBe(true);
    let second: boolean | undefined;
    void writer.write('second').then((ok) => (second = ok));
    await settle();
    // Nothing more is handed to the stream while its reader is stalled.
    expect(r.written).toEqual(['first event, longer than the buffer']);
    expect(second).toBeUndefined();
    r.readOne();
    await settle();
    expect(second).toBe(true);
    expect(r.written).toEqual(['first event, longer than the buffer', 'second']);
  });

  it('drops a reader whose buffer stays full for the drain timeout', async () => {
    const r = stalledReader();
    const writer = new BackpressuredWriter(r.out, 30_000);
    await writer.write('x'.repeat(20));
    let second: boolean | undefined;
    void writer.write('never sent').then((ok) => (second = ok));
    jest.advanceTimersByTime(29_999);
    await settle();
    expect(second).toBeUndefined();
    expect(r.out.destroyed).toBe(false);
    jest.advanceTimersByTime(1);
    await settle();
    expect(second).toBe(false);
    expect(r.out.destroyed).toBe(true);
    expect(await writer.write('after')).toBe(false);
    expect(r.written).toEqual(['x'.repeat(20)]);
  });
});
