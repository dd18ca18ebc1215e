import { startTestStack, stopAllApps, type RunningApp, type TestStack } from '@tools/testing';
import {
  counts,
  datasetImage,
  eventually,
  fakeLabel,
  form,
  IMAGENET_LABELS,
  startFakeWorker,
  startRealWorker,
  startWebApp,
  type FakeWorker,
  type WebApp,
} from '../../test/web-test-kit';

jest.setTimeout(120_000);

const classic = (web: WebApp, i: number, signal?: AbortSignal) =>
  fetch(`${web.url}/`, { method: 'POST', body: form('myfile', [datasetImage(i)]), signal });

describe('classic one-file mode: POST / holds the request until the result', () => {
  // One stack per describe: a stopped worker's last long poll can still take a message at the
  // emulator (local-aws-sqs hands messages to abandoned polls), which would hide it from the next worker.
  let stack: TestStack;
  let web: WebApp;

  describe('with the real classifier-worker', () => {
    let worker: RunningApp;
    beforeAll(async () => {
      stack = await startTestStack();
      web = await startWebApp(stack);
      worker = await startRealWorker(stack, 'test-1');
    });
    afterAll(async () => {
      // The worker even when its start failed before startRealWorker handed it back.
      const stopped = await stopAllApps();
      await web?.close();
      await stack?.stop();
      for (const s of stopped) expect(s).toEqual({ app: 'classifier-worker', code: 0 });
    });

    it('answers 100 concurrent requests, each "<name>:<ImageNet label>"', async () => {
      expect(IMAGENET_LABELS).toHaveLength(1000);
      const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => classic(web, i)));
      const answers = await Promise.all(
        responses.map(async (r) => ({ status: r.status, type: r.headers.get('content-type'), text: await r.text() })),
      );
      for (const [i, a] of answers.entries()) {
        expect(a).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: expect.stringMatching(new RegExp(`^test_${i}:`)) });
        expect(IMAGENET_LABELS).toContain(a.text.slice(`test_${i}:`.length));
      }
      // The worker's log lines may trail its answers a little.
      await eventually(async () => worker.lines.filter((l) => l.includes('"image classified"')).length === 100);
    });
  });

  describe('with a stand-in worker', () => {
    let fake: FakeWorker;
    beforeAll(async () => {
      stack = await startTestStack();
      web = await startWebApp(stack, { CLASSIC_TIMEOUT_SECONDS: '2' });
    });
    afterAll(async () => {
      await web?.close();
      await stack?.stop();
    });
    afterEach(() => fake?.stop());

    it('relays the label of the stored bytes, with the name taken from the uploaded file', async () => {
      fake = startFakeWorker(stack.resources);
      const res = await fetch(`${web.url}/`, { method: 'POST', body: form('myfile', [{ name: 'holiday.photo.jpeg', bytes: datasetImage(3).bytes }]) });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`holiday.photo:${fakeLabel(datasetImage(3).bytes)}`);
    });

    it('answers a failed image with 422 (cannot be classified) or 502 (gave up after retries)', async () => {
      fake = startFakeWorker(stack.resources, {
        fail: (m) =>
          m.fileName === 'test_1.JPEG'
            ? { reason: 'the image could not be decoded', permanent: true }
            : { reason: 'no result after 3 attempts', permanent: false },
      });
      const [bad, lost] = await Promise.all([classic(web, 1), classic(web, 2)]);
      expect(bad.status).toBe(422);
      expect(await bad.json()).toEqual({ statusCode: 422, error: 'Unprocessable Entity', message: 'test_1.JPEG: the image could not be decoded' });
      expect(lost.status).toBe(502);
      expect(await lost.json()).toMatchObject({ statusCode: 502, error: 'Bad Gateway', message: expect.stringContaining('no result after 3 attempts') });
    });

    it('gives up waiting after CLASSIC_TIMEOUT_SECONDS with 504 and the image id; the image stays queued', async () => {
      const started = Date.now();
      const res = await classic(web, 4);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(res.status).toBe(504);
      const body = await res.json();
      expect(body).toEqual({
        statusCode: 504,
        error: 'Gateway Timeout',
        message: `no result within 2 s; ask later at /api/images/${body.imageId}`,
        imageId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
      expect(await counts(stack.resources)).toMatchObject({ messages: 1 });
      // Its result, when it comes, is still served.
      fake = startFakeWorker(stack.resources);
      const later = await eventually(async () => {
        const r = await (await fetch(`${web.url}/api/images/${body.imageId}`)).json();
        return r.status === 'done' ? r : undefined;
      });
      expect(later).toMatchObject({ fileName: 'test_4.JPEG', label: fakeLabel(datasetImage(4).bytes) });
    });

    it('stops waiting for a client that went away', async () => {
      const abort = new AbortController();
      const req = classic(web, 5, abort.signal).catch((e: unknown) => e);
      await eventually(async () => (await counts(stack.resources)).messages === 1);
      abort.abort();
      expect(await req).toMatchObject({ name: 'AbortError' });
      await eventually(async () => /ics_web_classic_answers_total\{outcome="gone"\} 1\b/.test(await (await fetch(`${web.url}/metrics`)).text()));
      // Drain its message for the next tests.
      fake = startFakeWorker(stack.resources);
      await eventually(async () => (await counts(stack.resources)).messages === 0);
    });
  });
});
