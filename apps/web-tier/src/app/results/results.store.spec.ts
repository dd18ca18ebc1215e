import { randomUUID } from 'node:crypto';
import { loadConfig } from '@app/config';
import { outputError, outputSuccess } from '@app/contracts';
import { ResultsStore, ResultTimeoutError, ShuttingDownError } from './results.store';

const queues = {
  LAUNCH_QUEUE_URL: 'http://127.0.0.1:1/q/launch',
  MONITOR_QUEUE_URL: 'http://127.0.0.1:1/q/monitor',
  OUTPUT_QUEUE_URL: 'http://127.0.0.1:1/q/output',
};
const store = (limit = 100) => new ResultsStore(loadConfig({ ...queues, RESULT_CACHE_IMAGES: String(limit) }));

function ok(batchId: string, imageId: string, label = 'tabby, tabby cat') {
  return outputSuccess({
    batchId,
    imageId,
    fileName: 'cat.jpg',
    attempt: 1,
    producedBy: 'w-1',
    completedAt: new Date().toISOString(),
    label,
    confidence: 0.7,
    top5: [],
    timings: {},
  });
}

describe('ResultsStore', () => {
  it('applies the first result of an image and reports later ones as duplicates', () => {
    const s = store();
    const [b, i] = [randomUUID(), randomUUID()];
    s.addBatch(b, [{ imageId: i, fileName: 'cat.jpg', uploadedAt: 1 }]);
    expect(s.batch(b)?.pending).toBe(1);
    expect(s.applyResult(ok(b, i)).duplicate).toBe(false);
    expect(s.applyResult(ok(b, i, 'something else')).duplicate).toBe(true);
    expect(s.image(i)).toMatchObject({ status: 'done', uploadedAt: 1, result: { label: 'tabby, tabby cat' } });
    expect(s.batch(b)?.pending).toBe(0);
  });

  it('adds images to a batch it knows, keeping the earlier ones and their results', () => {
    const s = store();
    const [b, i, j] = [randomUUID(), randomUUID(), randomUUID()];
    s.addBatch(b, [{ imageId: i, fileName: 'cat.jpg', uploadedAt: 1 }]);
    s.applyResult(ok(b, i));
    s.addBatch(b, [{ imageId: j, fileName: 'dog.jpg', uploadedAt: 2 }]);
    expect(s.batch(b)?.images.map((r) => [r.fileName, r.status])).toEqual([['cat.jpg', 'done'], ['dog.jpg', 'queued']]);
    expect(s.batch(b)?.pending).toBe(1);
  });

  it('remembers results of batches it did not take, as incomplete batches', () => {
    const s = store();
    const [b, i] = [randomUUID(), randomUUID()];
    s.applyResult(outputError({ batchId: b, imageId: i, fileName: 'x.png', attempt: 3, producedBy: 'monitor-controller', completedAt: new Date().toISOString(), reason: 'gave up', permanent: false }));
    expect(s.image(i)).toMatchObject({ status: 'error', batchId: b, fileName: 'x.png' });
    expect(s.isBatchComplete(b)).toBe(false);
  });

  it('holds a result heard only on the queue for an unknown image as unconfirmed, and lets the bucket settle it', () => {
    const s = store();
    const [b, i] = [randomUUID(), randomUUID()];
    expect(s.applyResult(ok(b, i, 'late duplicate')).record.unconfirmed).toBe(true);
    const settled = s.confirm(i, ok(b, i, 'first written'));
    expect(settled).toMatchObject({ status: 'done', result: { label: 'first written' } });
    expect(settled?.unconfirmed).toBeUndefined();
    // Settled once: a second confirmation changes nothing.
    expect(s.confirm(i, ok(b, i, 'other'))?.result).toMatchObject({ label: 'first written' });
    // A known (uploaded here) image's first result is confirmed from the start.
    const j = randomUUID();
    s.addBatch(b, [{ imageId: j, fileName: 'cat.jpg', uploadedAt: 1 }]);
    expect(s.applyResult(ok(b, j)).record.unconfirmed).toBeUndefined();
  });

  it('forgets the oldest finished batches first when over its limit', () => {
    const s = store(100);
    const batches = Array.from({ length: 3 }, () => ({ b: randomUUID(), ids: Array.from({ length: 50 }, () => randomUUID()) }));
    s.addBatch(batches[0].b, batches[0].ids.map((imageId) => ({ imageId, fileName: 'a.jpg' }))); // stays pending
    s.addBatch(batches[1].b, batches[1].ids.map((imageId) => ({ imageId, fileName: 'b.jpg' })));
    for (const id of batches[1].ids) s.applyResult(ok(batches[1].b, id)); // finished
    s.addBatch(batches[2].b, batches[2].ids.map((imageId) => ({ imageId, fileName: 'c.jpg' })));
    expect(s.batch(batches[0].b)?.images).toHaveLength(50);
    expect(s.batch(batches[1].b)).toBeUndefined();
    expect(s.batch(batches[2].b)?.images).toHaveLength(50);
    expect(s.size).toBe(100);
  });

  it('waits for a result, and gives up on timeout, on abort and at shutdown', async () => {
    const s = store();
    const b = randomUUID();
    const ids = Array.from({ length: 4 }, () => randomUUID());
    s.addBatch(b, ids.map((imageId) => ({ imageId, fileName: 'x.jpg' })));
    const got = s.waitForResult(ids[0], 5_000);
    s.applyResult(ok(b, ids[0]));
    expect((await got).status).toBe('done');
    await expect(s.waitForResult(ids[1], 20)).rejects.toBeInstanceOf(ResultTimeoutError);
    const abort = new AbortController();
    const aborted = s.waitForResult(ids[2], 5_000, abort.signal);
    abort.abort(new Error('client went away'));
    await expect(aborted).rejects.toThrow('client went away');
    const held = s.waitForResult(ids[3], 5_000);
    s.shutdown();
    await expect(held).rejects.toBeInstanceOf(ShuttingDownError);
    await expect(s.waitForResult(ids[3], 5_000)).rejects.toBeInstanceOf(ShuttingDownError);
  });
});
