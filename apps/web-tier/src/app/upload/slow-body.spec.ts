import { PassThrough, Writable } from 'node:stream';
import { SlowBodyWatch } from './slow-body';

/** A body piped into a sink that takes what it is given, the way busboy reads a request. */
function pipedBody(): { body: PassThrough; sink: Writable } {
  const body = new PassThrough();
  const sink = new Writable({ highWaterMark: 16, write: (_chunk, _enc, done) => done() });
  body.pipe(sink);
  return { body, sink };
}

/** Lets the streams pass their chunks and events along (they use ticks and immediates, which stay real). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SlowBodyWatch (fake timers)', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  const rule = { minBytesPerSecond: 1000, windowMs: 10_000 };

  it('cuts a body just under the minimum over one window (999 bytes/s of 1000), once', async () => {
    const { body } = pipedBody();
    const onSlow = jest.fn();
    new SlowBodyWatch(body, rule, { onSlow }).start();
    for (let s = 0; s < 10; s++) {
      body.write(Buffer.alloc(999));
      await settle();
      jest.advanceTimersByTime(999);
    }
    expect(onSlow).not.toHaveBeenCalled();
    jest.advanceTimersByTime(10);
    expect(onSlow.mock.calls).toEqual([['the upload was too slow: 9990 bytes in 10 s, at least 1000 bytes/s are needed; nothing was accepted']]);
    jest.advanceTimersByTime(60_000);
    expect(onSlow).toHaveBeenCalledTimes(1);
  });

  it('judges window by window: a fast start does not buy a later stall', async () => {
    const { body } = pipedBody();
    const onSlow = jest.fn();
    const onBytes = jest.fn();
    new SlowBodyWatch(body, rule, { onSlow, onBytes }).start();
    body.write(Buffer.alloc(50_000));
    await settle();
    jest.advanceTimersByTime(10_000);
    expect(onSlow).not.toHaveBeenCalled();
    expect(onBytes).toHaveBeenLastCalledWith(50_000);
    // The second window brings nothing.
    jest.advanceTimersByTime(10_000);
    expect(onSlow).toHaveBeenCalledTimes(1);
  });

  it('does not count time in which the server holds the body back (paused by back-pressure)', async () => {
    const { body } = pipedBody();
    const onSlow = jest.fn();
    new SlowBodyWatch(body, rule, { onSlow }).start();
    body.write(Buffer.alloc(100));
    await settle();
    body.pause();
    jest.advanceTimersByTime(60_000);
    expect(onSlow).not.toHaveBeenCalled();
    body.resume();
    // resume() is announced on the next tick: a fresh window starts then.
    await settle();
    body.write(Buffer.alloc(10_000));
    await settle();
    jest.advanceTimersByTime(10_000);
    expect(onSlow).not.toHaveBeenCalled();
    jest.advanceTimersByTime(10_000);
    expect(onSlow).toHaveBeenCalledTimes(1);
  });

  it('stops at the end of the body, and with a minimum of 0 never judges', async () => {
    const { body } = pipedBody();
    const onSlow = jest.fn();
    new SlowBodyWatch(body, rule, { onSlow }).start();
    body.end(Buffer.alloc(10));
    await settle();
    jest.advanceTimersByTime(60_000);
    const other = pipedBody().body;
    new SlowBodyWatch(other, { minBytesPerSecond: 0, windowMs: 10_000 }, { onSlow }).start();
    jest.advanceTimersByTime(60_000);
    expect(onSlow).not.toHaveBeenCalled();
  });
});
