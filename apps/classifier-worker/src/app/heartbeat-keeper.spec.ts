import { randomUUID } from 'node:crypto';
import { RetryableError, type ObjectStore } from '@app/aws';
import { heartbeatKey, parseHeartbeat, type HeldImage } from '@app/contracts';
import { recordingLogger } from '../../test/worker-test-kit';
import { HeartbeatKeeper, type HeartbeatDeps } from './heartbeat-keeper';

/**
 * The bucket as the keeper uses it: every heartbeat written, in order; `down` refuses writes.
 * Each write takes `putMs` of the fake clock (the tests advance it), never real time.
 */
function fakeBucket(putMs = 1) {
  const writes: ReturnType<typeof parseHeartbeat>[] = [];
  const state = { down: false };
  const storageLatency = () => new Promise<void>((written) => setTimeout(written, putMs));
  const bucket = {
    put: async (key: string, body: string) => {
      await storageLatency();
      if (state.down) throw new RetryableError('s3.PutObject: SlowDown', 's3.PutObject');
      expect(key).toBe(heartbeatKey('w-1'));
      writes.push(parseHeartbeat(body));
    },
  } as unknown as ObjectStore;
  return { bucket, writes, state };
}

const take = (attempt = 1): HeldImage => ({ imageId: randomUUID(), attempt, handBacks: 0 });

describe('HeartbeatKeeper', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function keeper(over: Partial<HeartbeatDeps> = {}, putMs = 1) {
    const b = fakeBucket(putMs);
    const { log, lines } = recordingLogger();
    const k = new HeartbeatKeeper({ bucket: b.bucket, workerId: 'w-1', settings: { intervalMs: 2000, keepMs: 60_000 }, log, actedOn: async () => false, ...over });
    return { k, lines, ...b };
  }

  it('announces its session at start, then writes at most once per interval however many images come and go', async () => {
    const { k, writes } = keeper();
    k.start();
    await jest.advanceTimersByTimeAsync(5);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ session: k.session, held: [] });
    // Fifty images held and finished within one interval: no write of their own.
    for (let i = 0; i < 50; i++) {
      const t = take();
      k.hold(t);
      k.progress();
      k.release(t);
      k.progress(true);
    }
    const held = take();
    k.hold(held);
    expect(writes).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(2000);
    expect(writes).toHaveLength(2);
    expect(writes[1]).toMatchObject({ session: k.session, held: [held], imagesDone: 50 });
    // While it holds an image it beats every interval; once nothing changes and nothing is held, it stops.
    await jest.advanceTimersByTimeAsync(2000);
    expect(writes).toHaveLength(3);
    k.release(held);
    await jest.advanceTimersByTimeAsync(2000);
    expect(writes).toHaveLength(4);
    expect(writes[3].held).toEqual([]);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(writes).toHaveLength(4);
    const stopping = k.stop();
    await jest.advanceTimersByTimeAsync(5);
    await stopping;
    expect(writes[4]).toMatchObject({ session: k.session, final: true });
  });

  it('each process start is a new session', () => {
    expect(keeper().k.session).not.toBe(keeper().k.session);
  });

  it('writes hand-backs and failures at once; a failed take stays listed until the monitor has acted on it', async () => {
    const acted = new Set<string>();
    const { k, writes } = keeper({ actedOn: async (r) => acted.has(r.imageId), settings: { intervalMs: 2000, keepMs: 4000 } });
    k.start();
    const [a, b] = [take(), take(2)];
    k.hold(a);
    k.hold(b);
    const handing = k.handBack(a);
    const failing = k.fail(b);
    await jest.advanceTimersByTimeAsync(5);
    await Promise.all([handing, failing]);
    expect(writes.at(-1)).toMatchObject({ held: [], handedBack: [a], failed: [b] });
    // Long after a hand-back is dropped, the failed take is still there: the monitor has not acted.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(writes.at(-1)).toMatchObject({ handedBack: [], failed: [b] });
    acted.add(b.imageId);
    await jest.advanceTimersByTimeAsync(2000);
    expect(writes.at(-1)).toMatchObject({ failed: [] });
  });

  it('logs a failed write once, and writes the state again at the next beat when storage is back', async () => {
    const { k, writes, state, lines } = keeper();
    state.down = true;
    k.start();
    const t = take();
    k.hold(t);
    await jest.advanceTimersByTimeAsync(6000);
    expect(writes).toHaveLength(0);
    state.down = false;
    await jest.advanceTimersByTimeAsync(2000);
    expect(lines.filter((l) => l.msg.startsWith('cannot write the heartbeat'))).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'heartbeat written again')).toBe(true);
    expect(writes.at(-1)?.held).toEqual([t]);
  });

  it('a write resolves even when storage is slower than the beat (the beat never keeps a caller waiting)', async () => {
    const { k, writes } = keeper({}, 3000);
    k.start();
    k.hold(take());
    let written = false;
    void k.write().then(() => (written = true));
    await jest.advanceTimersByTimeAsync(6100);
    expect(written).toBe(true);
    expect(writes.length).toBeLessThanOrEqual(3);
  });
});
