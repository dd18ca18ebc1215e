import sharp from 'sharp';
import { parseLaunchMessage, outputSuccess, serialize, type LaunchMessage } from '@app/contracts';
import { startTestStack, type TestStack } from '@tools/testing';
import {
  closeTier,
  counts,
  datasetImage,
  eventually,
  fakeLabel,
  form,
  readEvents,
  startFakeWorker,
  startWebApp,
  type FakeWorker,
  type WebApp,
} from '../../test/web-test-kit';

jest.setTimeout(60_000);

interface UploadAnswer {
  batchId: string;
  images: { imageId: string; fileName: string; status: string; url: string }[];
}

describe('web tier API (embedded S3/SQS, results from a stand-in worker)', () => {
  let stack: TestStack;
  let web: WebApp;
  let png: Buffer, webp: Buffer, gif: Buffer;

  beforeAll(async () => {
    stack = await startTestStack();
    web = await startWebApp(stack);
    const pixels = sharp({ create: { width: 8, height: 8, channels: 3, background: '#2a7' } });
    [png, webp, gif] = await Promise.all([pixels.clone().png().toBuffer(), pixels.clone().webp().toBuffer(), pixels.clone().gif().toBuffer()]);
  });
  afterAll(async () => {
    await web?.close();
    await stack?.stop();
  });

  async function upload(files: { name: string; bytes: Buffer }[]): Promise<UploadAnswer> {
    const res = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', files) });
    const body = await res.json();
    expect({ status: res.status, body }).toMatchObject({ status: 202 });
    return body as UploadAnswer;
  }

  it('stores each image under a key of its ids, typed by its bytes, and sends one launch message per image', async () => {
    const jpeg = datasetImage(0);
    const files = [
      { name: 'test_0.JPEG', bytes: jpeg.bytes },
      { name: '../../evil name.png', bytes: png },
      // The bytes decide, not the name: a WebP called .txt is a WebP.
      { name: 'notes.txt', bytes: webp },
      { name: 'Été 🌄.gif', bytes: gif },
    ];
    const started = Date.now();
    const answer = await upload(files);
    expect(answer.batchId).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.images.map((i) => [i.fileName, i.status])).toEqual([
      ['test_0.JPEG', 'queued'],
      ['evil name.png', 'queued'],
      ['notes.txt', 'queued'],
      ['Été 🌄.gif', 'queued'],
    ]);
    const exts = ['jpg', 'png', 'webp', 'gif'];
    const types = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];
    for (const [i, img] of answer.images.entries()) {
      const key = `${answer.batchId}/${img.imageId}.${exts[i]}`;
      const info = await stack.resources.inputBucket.head(key);
      expect(info).toMatchObject({ size: files[i].bytes.length, contentType: types[i] });
      // The url is where the stored image lives: it serves the very bytes.
      const got = await fetch(img.url);
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(files[i].bytes)).toBe(true);
    }
    expect(await counts(stack.resources)).toEqual({ objects: 4, messages: 4 });

    const received = await stack.resources.launchQueue.receive({ maxMessages: 10 });
    const messages: LaunchMessage[] = received.map((m) => parseLaunchMessage(m.body));
    await stack.resources.launchQueue.deleteBatch(received.map((m) => m.receiptHandle));
    expect(messages).toHaveLength(4);
    for (const [i, img] of answer.images.entries()) {
      const m = messages.find((x) => x.imageId === img.imageId);
      expect(m).toMatchObject({
        v: 1,
        type: 'launch',
        batchId: answer.batchId,
        fileName: img.fileName,
        attempt: 1,
        inputKey: `${answer.batchId}/${img.imageId}.${exts[i]}`,
      });
      expect(Date.parse(m?.enqueuedAt ?? '')).toBeGreaterThanOrEqual(started - 1000);
    }
    const batch = await (await fetch(`${web.url}/api/batches/${answer.batchId}`)).json();
    expect(batch).toMatchObject({ batchId: answer.batchId, total: 4, done: 0, failed: 0, queued: 4, finished: false });
  });

  describe('with results', () => {
    let worker: FakeWorker;
    beforeAll(() => {
      worker = startFakeWorker(stack.resources, {
        fail: (m) => (m.fileName === 'broken.jpg' ? { reason: 'the image could not be decoded', permanent: true } : undefined),
      });
    });
    afterAll(() => worker.stop());

    it('pushes each result as a server-sent event, then done, and serves them by batch and by image', async () => {
      const files = [1, 2, 3].map(datasetImage);
      const answer = await upload(files);
      const events = await readEvents(`${web.url}/api/batches/${answer.batchId}/events`);
      expect(events.map((e) => e.event)).toEqual(['result', 'result', 'result', 'done']);
      for (const e of events.slice(0, 3)) {
        const r = e.data as { imageId: string; fileName: string; label: string; status: string; attempts: number; confidence: number; url: string };
        const file = files.find((f) => f.name === r.fileName);
        if (!file) throw new Error(`a result for a file not uploaded: ${r.fileName}`);
        expect(r).toMatchObject({ status: 'done', label: fakeLabel(file.bytes), confidence: 0.5, attempts: 1, batchId: answer.batchId });
        expect(r.url).toContain(r.imageId);
      }
      expect(events[3].data).toEqual({ batchId: answer.batchId, total: 3, done: 3, failed: 0 });

      const batch = await (await fetch(`${web.url}/api/batches/${answer.batchId}`)).json();
      expect(batch).toMatchObject({ total: 3, done: 3, failed: 0, queued: 0, finished: true });
      const one = await (await fetch(`${web.url}/api/images/${answer.images[0].imageId}`)).json();
      expect(one).toMatchObject({
        imageId: answer.images[0].imageId,
        fileName: 'test_1.JPEG',
        status: 'done',
        label: fakeLabel(files[0].bytes),
        producedBy: 'fake-worker',
        top5: [{ label: fakeLabel(files[0].bytes), classIndex: 1, confidence: 0.5 }],
      });
      // Each output message was deleted once handled.
      await eventually(async () => {
        const d = await stack.resources.outputQueue.depth();
        return d.visible + d.inFlight === 0;
      });
    });

    it('sends results already known to a stream opened late, and reports error results', async () => {
      const answer = await upload([datasetImage(4), { name: 'broken.jpg', bytes: datasetImage(5).bytes }]);
      await eventually(async () => ((await (await fetch(`${web.url}/api/batches/${answer.batchId}`)).json()) as { finished: boolean }).finished);
      const events = await readEvents(`${web.url}/api/batches/${answer.batchId}/events`);
      expect(events).toHaveLength(3);
      const broken = events.find((e) => (e.data as { fileName?: string }).fileName === 'broken.jpg')?.data;
      expect(broken).toMatchObject({ status: 'error', error: { reason: 'the image could not be decoded', permanent: true }, attempts: 1 });
      expect(broken).not.toHaveProperty('label');
      expect(events[2]).toEqual({ event: 'done', data: { batchId: answer.batchId, total: 2, done: 1, failed: 1 } });
    });

    it('applies a duplicate result once and drops an unreadable message, deleting both', async () => {
      const answer = await upload([datasetImage(6)]);
      const imageId = answer.images[0].imageId;
      const first = await eventually(async () => {
        const r = (await (await fetch(`${web.url}/api/images/${imageId}`)).json()) as { status: string; completedAt: string };
        return r.status === 'done' ? r : undefined;
      });
      const duplicate = outputSuccess({
        batchId: answer.batchId,
        imageId,
        fileName: 'test_6.JPEG',
        attempt: 2,
        producedBy: 'another-worker',
        completedAt: new Date().toISOString(),
        label: 'something else',
        confidence: 0.9,
        top5: [],
        timings: {},
      });
      await stack.resources.outputQueue.send(serialize(duplicate));
      await stack.resources.outputQueue.send('{"not": "a result"}');
      await eventually(async () => {
        const metrics = await (await fetch(`${web.url}/metrics`)).text();
        return /ics_web_results_total\{status="duplicate"\} 1\b/.test(metrics) && /ics_web_results_total\{status="invalid"\} 1\b/.test(metrics);
      });
      await eventually(async () => {
        const d = await stack.resources.outputQueue.depth();
        return d.visible + d.inFlight === 0;
      });
      const after = await (await fetch(`${web.url}/api/images/${imageId}`)).json();
      // The same result (the presigned url is signed anew each time).
      expect({ ...after, url: undefined }).toEqual({ ...first, url: undefined });
      expect(after).toMatchObject({ label: fakeLabel(datasetImage(6).bytes), attempts: 1, producedBy: 'fake-worker' });
    });

    it('answers from the buckets after a restart, and follows live results of a batch it did not take', async () => {
      await worker.stop();
      const done = await upload([datasetImage(7), datasetImage(8)]);
      const restartedWorker = startFakeWorker(stack.resources);
      try {
        await eventually(async () => ((await (await fetch(`${web.url}/api/batches/${done.batchId}`)).json()) as { finished: boolean }).finished);
      } finally {
        await restartedWorker.stop();
      }
      const pending = await upload([{ name: 'Schrödinger 🐈.jpg', bytes: datasetImage(9).bytes }]);

      await closeTier(web);
      web = await startWebApp(stack);

      const batch = (await (await fetch(`${web.url}/api/batches/${done.batchId}`)).json()) as { images: { fileName: string; label: string; url: string }[] };
      expect(batch).toMatchObject({ batchId: done.batchId, total: 2, done: 2, finished: true });
      expect(batch.images.map((i) => [i.fileName, i.label]).sort()).toEqual([
        ['test_7.JPEG', fakeLabel(datasetImage(7).bytes)],
        ['test_8.JPEG', fakeLabel(datasetImage(8).bytes)],
      ]);
      const img = await (await fetch(`${web.url}/api/images/${done.images[0].imageId}`)).json();
      expect(img).toMatchObject({ status: 'done', fileName: 'test_7.JPEG', label: fakeLabel(datasetImage(7).bytes) });
      expect((await fetch(img.url)).status).toBe(200);

      // Not classified yet: queued, with its name read back from the stored object.
      const waiting = await (await fetch(`${web.url}/api/batches/${pending.batchId}`)).json();
      expect(waiting).toMatchObject({ total: 1, queued: 1, finished: false, images: [{ fileName: 'Schrödinger 🐈.jpg', status: 'queued' }] });
      const stream = readEvents(`${web.url}/api/batches/${pending.batchId}/events`);
      worker = startFakeWorker(stack.resources);
      const events = await stream;
      expect(events.map((e) => e.event)).toEqual(['result', 'done']);
      expect(events[0].data).toMatchObject({ fileName: 'Schrödinger 🐈.jpg', label: fakeLabel(datasetImage(9).bytes) });
    });
  });
});
