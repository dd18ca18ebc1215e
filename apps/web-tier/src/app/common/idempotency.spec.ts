import { createHash } from 'node:crypto';
import { startTestStack, type TestStack } from '@tools/testing';
import { closeTier, datasetImage, form, startWebApp, takeLaunches, type WebApp } from '../../../test/web-test-kit';
import { uploadRequestHash } from '../upload/upload.service';
import { IdempotencyStore, PENDING_TAKEOVER_MS } from './idempotency';

jest.setTimeout(60_000);

interface Upload {
  batchId: string;
  images: { imageId: string; fileName: string; status: string }[];
}

/** `Idempotency-Key` across two web tiers sharing one stack: the record lives in S3, not in a tier. */
describe('Idempotency-Key', () => {
  let stack: TestStack;
  let one: WebApp | undefined;
  let two: WebApp | undefined;

  beforeAll(async () => {
    stack = await startTestStack();
    one = await startWebApp(stack);
    two = await startWebApp(stack);
  });
  afterAll(async () => {
    await closeTier(one);
    await closeTier(two);
    await stack?.stop();
  });

  const tier = (w: WebApp | undefined): WebApp => {
    if (!w) throw new Error('the web tier is not running');
    return w;
  };
  const upload = (w: WebApp | undefined, key: string, files: number[], path = '/api/images') =>
    fetch(`${tier(w).url}${path}`, { method: 'POST', headers: { 'Idempotency-Key': key }, body: form('images', files.map((i) => datasetImage(i))) });

  it('a retry on another tier gets the first answer (same ids, same status) and stores nothing twice; another body is 422', async () => {
    const first = await upload(one, 'upload-key-1', [10, 11]);
    expect(first.status).toBe(202);
    const answer = (await first.json()) as Upload;
    const retry = await upload(two, 'upload-key-1', [10, 11]);
    expect(retry.status).toBe(202);
    const again = (await retry.json()) as Upload;
    expect({ batchId: again.batchId, images: again.images.map((i) => [i.imageId, i.fileName, i.status]) }).toEqual({
      batchId: answer.batchId,
      images: answer.images.map((i) => [i.imageId, i.fileName, i.status]),
    });
    // One copy of each image, one launch message each: the retry's own copies were removed.
    const stored = (await stack.resources.inputBucket.list()).map((o) => o.key);
    expect(stored).toHaveLength(2);
    expect(answer.images.every((i) => stored.some((k) => k.includes(i.imageId)))).toBe(true);
    const launches = await takeLaunches(stack.resources, 2);
    expect(launches.map((l) => l.imageId).sort()).toEqual(answer.images.map((i) => i.imageId).sort());
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 0, inFlight: 0 });

    const other = await upload(two, 'upload-key-1', [10, 12]);
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ statusCode: 422, error: 'Unprocessable Entity' });
    expect((await stack.resources.inputBucket.list()).length).toBe(2);
  });

  it('makes one batch of a retried create, and one set of images of a retried add', async () => {
    const create = (w: WebApp | undefined) =>
      fetch(`${tier(w).url}/api/batches`, { method: 'POST', headers: { 'Idempotency-Key': 'create-1', 'content-type': 'application/json' }, body: JSON.stringify({ label: 'once' }) });
    const a = await create(one);
    const b = await create(two);
    expect([a.status, b.status]).toEqual([201, 201]);
    const [first, second] = (await Promise.all([a.json(), b.json()])) as { batchId: string }[];
    expect(second.batchId).toBe(first.batchId);
    expect(b.headers.get('location')).toBe(`/api/batches/${first.batchId}`);

    const path = `/api/batches/${first.batchId}/images`;
    const added = (await (await upload(one, 'add-1', [13], path)).json()) as Upload;
    const retried = (await (await upload(two, 'add-1', [13], path)).json()) as Upload;
    expect(retried.images.map((i) => i.imageId)).toEqual(added.images.map((i) => i.imageId));
    await takeLaunches(stack.resources, 1);
    const batch = (await (await fetch(`${tier(two).url}/api/batches/${first.batchId}`)).json()) as { total: number; label: string };
    expect(batch).toMatchObject({ total: 1, label: 'once' });
    // The same key on another route is another request.
    expect((await upload(one, 'add-1', [13])).status).toBe(422);
  });

  it('answers 409 with Retry-After while the first request is in progress, and lets a retry take over a claim left behind', async () => {
    const records = tier(one).app.get(IdempotencyStore);
    const image = datasetImage(14);
    const hash = uploadRequestHash('api', 'images', undefined, [{ fileName: image.name, digest: createHash('sha256').update(image.bytes).digest('hex') }]);
    const began = await records.begin('default', 'in-flight-1', hash);
    expect(began.kind).toBe('first');
    const busy = await upload(two, 'in-flight-1', [14]);
    expect(busy.status).toBe(409);
    expect(busy.headers.get('retry-after')).toBe('2');
    expect(await busy.json()).toMatchObject({ statusCode: 409, error: 'Conflict' });
    // The refused request's copy was removed: only the two earlier tests' three images are stored.
    expect((await stack.resources.inputBucket.list()).length).toBe(3);

    // The first request's tier died: past the takeover age, a retry becomes the first.
    const later = Date.now() + PENDING_TAKEOVER_MS + 1_000;
    const takeover = await records.begin('default', 'in-flight-1', hash, () => later);
    expect(takeover.kind).toBe('first');
    // A request that failed without an answer leaves no claim: its retry runs afresh.
    if (takeover.kind === 'first') await takeover.claim.abandon();
    expect((await records.begin('default', 'in-flight-1', 'hash-b')).kind).toBe('first');
  });

  it('refuses a malformed key with 400', async () => {
    const res = await upload(one, 'x'.repeat(256), [15]);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ message: 'Idempotency-Key must be 1 to 255 visible ASCII characters' });
  });
});
