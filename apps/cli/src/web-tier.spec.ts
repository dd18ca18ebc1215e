import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, IcsClient } from '@app/api-client';
import { startTestStack, type TestStack } from '@tools/testing';
// The web tier's own test kit: the real tier in this process against the embedded S3/SQS, and a worker stand-in.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { closeTier, counts, fakeLabel, startFakeWorker, startWebApp, type FakeWorker, type WebApp } from '../../web-tier/test/web-test-kit';
import { csvRows, imageFolder, runIcs } from '../test/run-ics';

jest.setTimeout(90_000);

const KEY = 'cli-key-0123456789abcdef0123456789abcdef';

/**
 * The typed client and `ics classify` against the real web tier (in this
 * process, on the embedded stack); a stand-in worker answers each image with
 * a label made from its stored bytes, so every row can be checked.
 */
describe('api-client and ics against the web tier', () => {
  let stack: TestStack | undefined;
  let web: WebApp | undefined;
  let worker: FakeWorker | undefined;
  const folders: string[] = [];
  const images = (n: number) => {
    const f = imageFolder(n);
    folders.push(f.dir);
    return f;
  };

  beforeAll(async () => {
    stack = await startTestStack();
    web = await startWebApp(stack, { API_KEYS: `team-a=${KEY}` });
    worker = startFakeWorker(stack.resources);
  });

  afterAll(async () => {
    await worker?.stop();
    await closeTier(web);
    await stack?.stop();
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });

  const client = () => new IcsClient({ url: web?.url ?? '', apiKey: KEY });

  it('creates, fills, closes, follows, lists, exports and deletes a batch; errors carry the server’s answer', async () => {
    const f = images(3);
    const api = client();
    const created = await api.createBatch({ label: 'client test' });
    expect(created).toMatchObject({ label: 'client test', closed: false, total: 0 });
    const files = f.names.map((name) => ({ name, data: new Blob([new Uint8Array(f.bytes(name))]) }));
    const first = await api.addImages(created.batchId, files.slice(0, 2), { idempotencyKey: 'k-1' });
    // Same key, same body: the first answer again. Same key, other body: refused.
    const again = await api.addImages(created.batchId, files.slice(0, 2), { idempotencyKey: 'k-1' });
    expect(again.images.map((i) => i.imageId)).toEqual(first.images.map((i) => i.imageId));
    expect(again.batchId).toBe(created.batchId);
    await expect(api.addImages(created.batchId, files.slice(2), { idempotencyKey: 'k-1' })).rejects.toMatchObject({ status: 422 });
    await api.addImages(created.batchId, files.slice(2));
    await api.closeBatch(created.batchId);
    await expect(api.addImages(created.batchId, files.slice(2))).rejects.toMatchObject({ status: 409 });

    const labels = new Map<string, string | undefined>();
    let done;
    for await (const ev of api.followBatch(created.batchId)) {
      if (ev.type === 'result') labels.set(ev.result.fileName, ev.result.label);
      else done = ev.summary;
    }
    expect(done).toMatchObject({ total: 3, done: 3, failed: 0 });
    expect(Object.fromEntries(labels)).toEqual(Object.fromEntries(f.names.map((n) => [n, fakeLabel(f.bytes(n))])));

    expect((await api.listBatches({ limit: 5 })).batches.map((b) => b.batchId)).toContain(created.batchId);
    expect(await api.getBatch(created.batchId)).toMatchObject({ total: 3, done: 3, finished: true, closed: true });
    const csv = csvRows(await new Response(await api.exportResults(created.batchId, 'csv')).text());
    expect(csv.map((r) => [r['fileName'], r['label']]).sort()).toEqual(f.names.map((n) => [n, fakeLabel(f.bytes(n))]).sort());

    await api.deleteBatch(created.batchId);
    const gone = await api.getBatch(created.batchId).catch((err: unknown) => err);
    expect(gone).toBeInstanceOf(ApiError);
    expect(gone).toMatchObject({ status: 404, error: 'Not Found', transient: false });
    const refused = await new IcsClient({ url: web?.url ?? '', apiKey: 'wrong' }).listBatches().catch((err: unknown) => err);
    expect(refused).toMatchObject({ status: 401, message: expect.stringContaining('invalid API key') });
  });

  it('ics classify, interrupted after the server stored a chunk whose answer never arrived, resumes without storing an image twice', async () => {
    const f = images(6);
    if (!stack || !web) throw new Error('set-up failed');
    const before = await counts(stack.resources);
    const takenBefore = worker?.taken.length ?? 0;
    const out = join(f.dir, 'results.csv');
    const argv = ['classify', f.dir, '--url', web.url, '--out', out, '--batch-size', '2', '--concurrency', '1'];

    // Stop the run the moment the second chunk's answer comes back, before the CLI sees it (as a Ctrl-C would).
    const interrupt = new AbortController();
    let uploads = 0;
    const cutting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method === 'POST' && String(input).endsWith('/images') && ++uploads === 2) {
        interrupt.abort(new Error('SIGINT'));
        throw interrupt.signal.reason;
      }
      return res;
    };
    const first = await runIcs(argv, { env: { ICS_API_KEY: KEY }, fetch: cutting, signal: interrupt.signal });
    expect(first.code).toBe(130);
    expect((await counts(stack.resources)).objects - before.objects).toBe(4);

    const second = await runIcs(argv, { env: { ICS_API_KEY: KEY } });
    expect(second.stderr).toContain('6 of 6 images labelled');
    expect(second.code).toBe(0);
    // Six images stored and six launched, once each: the replayed chunk was not stored again.
    expect((await counts(stack.resources)).objects - before.objects).toBe(6);
    expect((worker?.taken.length ?? 0) - takenBefore).toBe(6);
    const rows = csvRows(readFileSync(out, 'utf8'));
    expect(rows.map((r) => [r['fileName'], r['status'], r['label']]).sort()).toEqual(f.names.map((n) => [n, 'done', fakeLabel(f.bytes(n))]).sort());
  });
});
