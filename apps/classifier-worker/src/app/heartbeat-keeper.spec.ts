import { randomUUID } from 'node:crypto';
import { RetryableError, type ObjectStore } from '@app/aws';
import { heartbeatKey, parseHeartbeat } from '@app/contracts';
import { startTestStack, type TestStack } from '@tools/testing';
import { recordingLogger } from '../testing/fixtures';
import { HeartbeatKeeper } from './heartbeat-keeper';

describe('HeartbeatKeeper against the embedded S3', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'beat-' });
  });
  afterAll(() => stack.stop());
  const read = async (id: string) => parseHeartbeat((await stack.resources.outputBucket.getBuffer(heartbeatKey(id))).toString());

  it('writes what it holds at once, beats while it holds, and lists hand-backs and failures until they are old', async () => {
    const id = `w-${randomUUID().slice(0, 8)}`;
    const keeper = new HeartbeatKeeper(stack.resources.outputBucket, id, { intervalMs: 100, keepMs: 400 }, recordingLogger().log);
    keeper.start();
    const a = { imageId: randomUUID(), attempt: 1 };
    const b = { imageId: randomUUID(), attempt: 2 };
    const c = { imageId: randomUUID(), attempt: 1 };
    keeper.hold(a);
    keeper.hold(b);
    keeper.hold(c);
    await keeper.write();
    const first = await read(id);
    expect(first.held).toEqual([a, b, c]);
    // Beating: a later heartbeat replaces the first within a few beats (more on a loaded machine).
    let later = first;
    for (let i = 0; i < 50 && later.at === first.at; i++) {
      await new Promise((r) => setTimeout(r, 100));
      later = await read(id);
    }
    expect(Date.parse(later.at)).toBeGreaterThan(Date.parse(first.at));
    keeper.progress(true);
    await keeper.handBack(b);
    await keeper.fail(c);
    expect(await read(id)).toMatchObject({ held: [a], handedBack: [b], failed: [c], imagesDone: 1 });
    keeper.release(a);
    await new Promise((r) => setTimeout(r, 600));
    await keeper.stop();
    expect(await read(id)).toMatchObject({ held: [], handedBack: [], failed: [] });
  }, 30_000);

  it('logs a failed write once and writes again when storage is back', async () => {
    const { log, lines } = recordingLogger();
    let down = true;
    const flaky = Object.create(stack.resources.outputBucket) as ObjectStore;
    flaky.put = (...args: Parameters<ObjectStore['put']>) =>
      down ? Promise.reject(new RetryableError('s3.PutObject: SlowDown', 's3.PutObject')) : stack.resources.outputBucket.put(...args);
    const keeper = new HeartbeatKeeper(flaky, 'w-flaky', { intervalMs: 50, keepMs: 1000 }, log);
    keeper.start();
    keeper.hold({ imageId: randomUUID(), attempt: 1 });
    await new Promise((r) => setTimeout(r, 300));
    down = false;
    await new Promise((r) => setTimeout(r, 200));
    await keeper.stop();
    expect(lines.filter((l) => l.msg.startsWith('cannot write the heartbeat'))).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'heartbeat written again')).toBe(true);
    expect((await read('w-flaky')).held).toHaveLength(1);
  }, 30_000);

  it('a write resolves even when storage is slower than the beat (the beat never keeps a caller waiting)', async () => {
    const slow = Object.create(stack.resources.outputBucket) as ObjectStore;
    slow.put = async (...args: Parameters<ObjectStore['put']>) => {
      await new Promise((r) => setTimeout(r, 150));
      return stack.resources.outputBucket.put(...args);
    };
    const keeper = new HeartbeatKeeper(slow, 'w-slow', { intervalMs: 50, keepMs: 1000 }, recordingLogger().log);
    keeper.start();
    keeper.hold({ imageId: randomUUID(), attempt: 1 });
    const written = keeper.write().then(() => 'written');
    const waited = await Promise.race([written, new Promise((r) => setTimeout(() => r('still waiting'), 2000))]);
    await keeper.stop();
    expect(waited).toBe('written');
  }, 30_000);
});
