import { batchIndexPrefix, batchListPrefix, parseLaunchMessage, resultKey, type LaunchMessage } from '@app/contracts';
import { eventually, startTestStack, until, type TestStack } from '@tools/testing';
import { closeTier, counts, datasetImage, form, publishResult, resultFor, startWebApp, takeLaunches, type WebApp } from '../../../test/web-test-kit';

jest.setTimeout(60_000);

const KEY_A = 'alpha-key-0123456789abcdef0123456789abcdef';
const KEY_B = 'beta-key-0123456789abcdef0123456789abcdef0';

interface Summary {
  batchId: string;
  label?: string;
  callbackUrl?: string;
  createdAt: string;
  closed: boolean;
  total: number;
  done: number;
  failed: number;
  queued: number;
  finished: boolean;
}
interface Batch extends Summary {
  images: { imageId: string; fileName: string; status: string; label?: string }[];
}
interface Upload {
  batchId: string;
  images: { imageId: string; fileName: string; status: string; url: string }[];
}

/**
 * Batches as jobs, as two tenants see them: create, add, close, list, read,
 * export, delete. The test plays the worker (takes launch messages, writes
 * results) so no model runs.
 */
describe('jobs API with tenants', () => {
  let stack: TestStack;
  let web: WebApp;

  beforeAll(async () => {
    stack = await startTestStack();
    // Alpha may give a callbackUrl (it has a webhook secret); its deliveries go to a closed loopback port.
    web = await startWebApp(stack, { API_KEYS: `alpha=${KEY_A},beta=${KEY_B}`, WEBHOOK_SECRETS: `alpha=${'w'.repeat(32)}` });
  });
  afterAll(async () => {
    await closeTier(web);
    await stack?.stop();
  });

  const call = (path: string, key: string, init: RequestInit = {}) =>
    fetch(`${web.url}${path}`, { ...init, headers: { 'x-api-key': key, ...(init.headers as Record<string, string> | undefined) } });
  const json = async <T>(res: Response | Promise<Response>, status: number): Promise<T> => {
    const r = await res;
    const body = await r.text();
    if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${body}`);
    return JSON.parse(body) as T;
  };
  const createBatch = (key: string, body?: object, headers: Record<string, string> = {}) =>
    call('/api/batches', key, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  const addImages = (key: string, batchId: string, files: number[], headers: Record<string, string> = {}) =>
    call(`/api/batches/${batchId}/images`, key, { method: 'POST', headers, body: form('images', files.map((i) => datasetImage(i))) });

  /** A closed batch of tenant A with two answered images. */
  async function answeredBatch(label: string): Promise<{ batchId: string; launches: LaunchMessage[] }> {
    const created = await createBatch(KEY_A, { label });
    const { batchId } = await json<Summary>(created, 201);
    await json<Upload>(addImages(KEY_A, batchId, [1, 2]), 202);
    const launches = await takeLaunches(stack.resources, 2);
    for (const l of launches) await publishResult(stack.resources, resultFor(l, `label of ${l.fileName}`));
    await json<Batch>(call(`/api/batches/${batchId}/close`, KEY_A, { method: 'POST' }), 200);
    return { batchId, launches };
  }

  it('creates an open batch, adds images, closes it (idempotently), and refuses images once closed', async () => {
    const res = await createBatch(KEY_A, { label: 'holiday', callbackUrl: 'http://127.0.0.1:9/hook' });
    const created = await json<Summary>(res, 201);
    expect(res.headers.get('location')).toBe(`/api/batches/${created.batchId}`);
    expect(created).toMatchObject({ label: 'holiday', callbackUrl: 'http://127.0.0.1:9/hook', closed: false, total: 0, done: 0, failed: 0, queued: 0, finished: false });
    const upload = await json<Upload>(addImages(KEY_A, created.batchId, [3]), 202);
    expect(upload).toMatchObject({ batchId: created.batchId, images: [{ fileName: 'test_3.JPEG', status: 'queued' }] });
    const [launch] = await takeLaunches(stack.resources, 1);
    expect(launch).toMatchObject({ batchId: created.batchId, imageId: upload.images[0].imageId, tenant: 'alpha' });

    const closed = await json<Batch>(call(`/api/batches/${created.batchId}/close`, KEY_A, { method: 'POST' }), 200);
    expect(closed).toMatchObject({ closed: true, total: 1, queued: 1, finished: false, images: [{ imageId: launch.imageId, status: 'queued' }] });
    await json<Batch>(call(`/api/batches/${created.batchId}/close`, KEY_A, { method: 'POST' }), 200);
    const refused = await json<{ statusCode: number; message: string }>(addImages(KEY_A, created.batchId, [4]), 409);
    expect(refused).toMatchObject({ statusCode: 409, error: 'Conflict', message: 'batch is closed' });

    await publishResult(stack.resources, resultFor(launch, 'a lighthouse'));
    // The tier hears the result on its queue: the batch shows it once the announcement is applied.
    const answered = await eventually(async () => {
      const batch = await json<Batch>(call(`/api/batches/${created.batchId}`, KEY_A), 200);
      return batch.finished && batch;
    });
    expect(answered).toMatchObject({ closed: true, done: 1, finished: true, images: [{ label: 'a lighthouse' }] });
  });

  it('refuses a bad batch body with 400 and stores nothing', async () => {
    const before = (await stack.resources.outputBucket.list(batchListPrefix('alpha'))).length;
    for (const body of [{ label: 'x'.repeat(201) }, { callbackUrl: 'ftp://example.com/x' }, { callbackUrl: '/relative' }, { colour: 'red' }]) {
      expect(await json<{ statusCode: number }>(createBatch(KEY_A, body), 400)).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    }
    expect((await stack.resources.outputBucket.list(batchListPrefix('alpha'))).length).toBe(before);
  });

  it("answers 404 to every route of another tenant's batch, and never lists it for them", async () => {
    const { batchId, launches } = await answeredBatch('private');
    const imageId = launches[0].imageId;
    const eventsA = await call(`/api/batches/${batchId}/events`, KEY_A);
    expect(eventsA.status).toBe(200);
    await eventsA.body?.cancel();

    const asB = {
      get: await call(`/api/batches/${batchId}`, KEY_B),
      events: await call(`/api/batches/${batchId}/events`, KEY_B),
      exportJson: await call(`/api/batches/${batchId}/results`, KEY_B),
      exportCsv: await call(`/api/batches/${batchId}/results?format=csv`, KEY_B),
      addImages: await addImages(KEY_B, batchId, [5]),
      close: await call(`/api/batches/${batchId}/close`, KEY_B, { method: 'POST' }),
      delete: await call(`/api/batches/${batchId}`, KEY_B, { method: 'DELETE' }),
      image: await call(`/api/images/${imageId}`, KEY_B),
    };
    for (const [route, res] of Object.entries(asB)) {
      expect([route, res.status, ((await res.json()) as { error: string }).error]).toEqual([route, 404, 'Not Found']);
    }
    // B's add stored nothing and sent nothing.
    expect((await stack.resources.inputBucket.list(`${batchId}/`)).length).toBe(2);
    expect(await stack.resources.launchQueue.depth()).toMatchObject({ visible: 0 });
    const listB = await json<{ batches: Summary[] }>(call('/api/batches?limit=100', KEY_B), 200);
    expect(listB.batches.map((b) => b.batchId)).not.toContain(batchId);
    const listA = await json<{ batches: Summary[] }>(call('/api/batches?limit=100', KEY_A), 200);
    expect(listA.batches.find((b) => b.batchId === batchId)).toMatchObject({ label: 'private', closed: true, total: 2, done: 2, finished: true });
    // Still A's, untouched.
    expect(await json<Batch>(call(`/api/batches/${batchId}`, KEY_A), 200)).toMatchObject({ total: 2, done: 2 });
    expect(await json<{ label: string }>(call(`/api/images/${imageId}`, KEY_A), 200)).toMatchObject({ label: `label of ${launches[0].fileName}` });
  });

  it('exports every result as JSON and as CSV, as attachments', async () => {
    const { batchId, launches } = await answeredBatch('export');
    // The tier serves a batch it took from memory once it has heard the results announced (moments after they are stored).
    await eventually(async () => (await json<Batch>(call(`/api/batches/${batchId}`, KEY_A), 200)).done === 2);
    const jsonRes = await call(`/api/batches/${batchId}/results`, KEY_A);
    expect(jsonRes.headers.get('content-disposition')).toMatch(/^attachment; filename="batch-.+\.json"$/);
    const rows = await json<{ imageId: string; label: string; status: string; top5: { label: string }[] }[]>(jsonRes, 200);
    expect(rows.map((r) => [r.imageId, r.status, r.label]).sort()).toEqual(launches.map((l) => [l.imageId, 'done', `label of ${l.fileName}`]).sort());

    const csvRes = await call(`/api/batches/${batchId}/results?format=csv`, KEY_A);
    expect(csvRes.status).toBe(200);
    expect(csvRes.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csvRes.headers.get('content-disposition')).toMatch(/^attachment; filename="batch-.+\.csv"$/);
    const lines = (await csvRes.text()).trim().split('\n');
    expect(lines[0]).toBe('imageId,fileName,status,label,confidence,top5,attempts,error');
    expect(lines.slice(1).sort()).toEqual(
      launches.map((l) => `${l.imageId},${l.fileName},done,label of ${l.fileName},0.5,label of ${l.fileName}:0.5,1,`).sort(),
    );
    expect(await json<{ message: string }>(call(`/api/batches/${batchId}/results?format=xml`, KEY_A), 400)).toMatchObject({ message: 'format must be one of json, csv' });
  });

  it('still reads a batch with every result after its inputs expired', async () => {
    const { batchId, launches } = await answeredBatch('expired inputs');
    for (const o of await stack.resources.inputBucket.list(`${batchId}/`)) await stack.resources.inputBucket.delete(o.key);
    // Another tier (or this one restarted) knows nothing of it in memory.
    const other = await startWebApp(stack, { API_KEYS: `alpha=${KEY_A},beta=${KEY_B}` });
    try {
      const res = await fetch(`${other.url}/api/batches/${batchId}`, { headers: { 'x-api-key': KEY_A } });
      const batch = await json<Batch>(res, 200);
      expect(batch).toMatchObject({ label: 'expired inputs', closed: true, total: 2, done: 2, finished: true });
      expect(batch.images.map((i) => i.label).sort()).toEqual(launches.map((l) => `label of ${l.fileName}`).sort());
    } finally {
      await closeTier(other);
    }
  });

  it('deletes a batch: its inputs, results and index are gone and every route answers 404', async () => {
    const { batchId, launches } = await answeredBatch('to delete');
    const res = await call(`/api/batches/${batchId}`, KEY_A, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(await stack.resources.inputBucket.list(`${batchId}/`)).toEqual([]);
    for (const l of launches) expect(await stack.resources.outputBucket.exists(resultKey(l.imageId))).toBe(false);
    expect(await stack.resources.outputBucket.list(batchIndexPrefix('alpha', batchId))).toEqual([]);
    const listed = (await stack.resources.outputBucket.list(batchListPrefix('alpha'))).map((o) => o.key);
    expect(listed.filter((k) => k.endsWith(batchId))).toEqual([]);

    const after = [
      await call(`/api/batches/${batchId}`, KEY_A),
      await call(`/api/batches/${batchId}/events`, KEY_A),
      await call(`/api/batches/${batchId}/results?format=csv`, KEY_A),
      await call(`/api/batches/${batchId}/close`, KEY_A, { method: 'POST' }),
      await call(`/api/batches/${batchId}`, KEY_A, { method: 'DELETE' }),
      await addImages(KEY_A, batchId, [6]),
      await call(`/api/images/${launches[0].imageId}`, KEY_A),
    ];
    expect(after.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404, 404]);
    const list = await json<{ batches: Summary[] }>(call('/api/batches?limit=100', KEY_A), 200);
    expect(list.batches.map((b) => b.batchId)).not.toContain(batchId);
  });

  it("pages through the tenant's batches newest first with an opaque cursor", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await json<Summary>(createBatch(KEY_B, { label: `page ${i}` }), 201);
      ids.push(created.batchId);
      // The list is ordered by creation time (to the millisecond): the next batch is made once the clock has moved past this one.
      await until('the clock past the creation time', () => Date.now() > Date.parse(created.createdAt), 1000, 1);
    }
    const first = await json<{ batches: Summary[]; nextCursor?: string }>(call('/api/batches?limit=2', KEY_B), 200);
    expect(first.batches.map((b) => b.batchId)).toEqual([ids[2], ids[1]]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await json<{ batches: Summary[]; nextCursor?: string }>(call(`/api/batches?limit=2&cursor=${first.nextCursor}`, KEY_B), 200);
    expect(second.batches.map((b) => b.batchId)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeUndefined();
    // A's cursor is no cursor for B; nor is one made up, nor a limit out of range.
    expect((await call(`/api/batches?cursor=${first.nextCursor}`, KEY_A)).status).toBe(400);
    expect((await call('/api/batches?cursor=bm9wZQ', KEY_B)).status).toBe(400);
    expect((await call('/api/batches?limit=101', KEY_B)).status).toBe(400);
  });
});

/**
 * Tenants share the launch queue and the fleet: each image's launch message
 * carries its tenant as MessageGroupId (SQS fair queues), and a tenant may
 * have at most TENANT_MAX_IMAGES_IN_FLIGHT images accepted and not answered.
 */
describe('fair share between tenants', () => {
  let stack: TestStack;
  let web: WebApp;

  beforeAll(async () => {
    stack = await startTestStack();
    web = await startWebApp(stack, { API_KEYS: `alpha=${KEY_A},beta=${KEY_B}`, TENANT_MAX_IMAGES_IN_FLIGHT: '3' });
  });
  afterAll(async () => {
    await closeTier(web);
    await stack?.stop();
  });

  const upload = (key: string, files: number[]) =>
    fetch(`${web.url}/api/images`, { method: 'POST', headers: { 'x-api-key': key }, body: form('images', files.map((i) => datasetImage(i))) });

  /** Takes n launch messages off the queue (the test playing the worker), each with the MessageGroupId it came with. */
  async function takeLaunchesWithGroup(n: number): Promise<{ launch: LaunchMessage; group?: string }[]> {
    const taken: { launch: LaunchMessage; group?: string }[] = [];
    await eventually(async () => {
      const got = await stack.resources.launchQueue.receive({ maxMessages: 10 });
      if (got.length > 0) await stack.resources.launchQueue.deleteBatch(got.map((m) => m.receiptHandle));
      taken.push(...got.map((m) => ({ launch: parseLaunchMessage(m.body), group: m.messageGroupId })));
      return taken.length >= n;
    }, 10_000);
    return taken;
  }

  /** Answers an image as a worker does, and waits until the web tier has the answer. */
  async function answer(launch: LaunchMessage): Promise<void> {
    await publishResult(stack.resources, resultFor(launch, 'tabby'));
    await eventually(async () => {
      const res = await fetch(`${web.url}/api/images/${launch.imageId}`, { headers: { 'x-api-key': KEY_A } });
      return res.ok && ((await res.json()) as { status: string }).status === 'done';
    }, 10_000);
  }

  it('sends each launch message with its tenant as MessageGroupId, and refuses (429) an upload past the tenant\'s images in flight, storing and queuing nothing', async () => {
    expect((await upload(KEY_A, [1, 2])).status).toBe(202);
    expect((await upload(KEY_B, [3])).status).toBe(202);
    const taken = await takeLaunchesWithGroup(3);
    expect(taken.map((t) => [t.launch.tenant, t.group]).sort()).toEqual([
      ['alpha', 'alpha'],
      ['alpha', 'alpha'],
      ['beta', 'beta'],
    ]);
    const alpha = taken.filter((t) => t.group === 'alpha').map((t) => t.launch);

    // alpha has 2 of its 3 in flight: two more files would pass the limit.
    const before = await counts(stack.resources);
    const refused = await upload(KEY_A, [4, 5]);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(await refused.json()).toMatchObject({
      statusCode: 429,
      error: 'Too Many Requests',
      message: expect.stringContaining('TENANT_MAX_IMAGES_IN_FLIGHT'),
      reason: 'tenant-images-in-flight',
      imagesInFlight: 2,
      limit: 3,
    });
    expect(await counts(stack.resources)).toEqual(before);

    // One more fits; then alpha is at its limit and refused before anything is read.
    expect((await upload(KEY_A, [6])).status).toBe(202);
    const [third] = await takeLaunchesWithGroup(1);
    const beforeAtLimit = await counts(stack.resources);
    const atLimit = await upload(KEY_A, [7]);
    expect(atLimit.status).toBe(429);
    expect(await atLimit.json()).toMatchObject({ statusCode: 429, imagesInFlight: 3, limit: 3 });
    expect(await counts(stack.resources)).toEqual(beforeAtLimit);

    // Another tenant is not held back by alpha's images.
    expect((await upload(KEY_B, [8])).status).toBe(202);
    await takeLaunchesWithGroup(1);

    // An answer makes room again once its announcement reaches the tier, which may be a moment after the
    // stored result that GET /api/images (and so answer()) already serves. A refused upload stores nothing: tried again.
    await answer(alpha[0]);
    await eventually(async () => (await upload(KEY_A, [9])).status === 202, 10_000);
    const [fourth] = await takeLaunchesWithGroup(1);
    expect(fourth.group).toBe('alpha');
    for (const l of [alpha[1], third.launch, fourth.launch]) await answer(l);
  });
});
