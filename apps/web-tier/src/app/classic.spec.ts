import { createHash } from 'node:crypto';
import { AwsResources, Topic } from '@app/aws';
import { loadConfig } from '@app/config';
import { idempotencyKey } from '@app/contracts';
import { ResultPublisher } from '@app/results';
import { startTestStack, stopAllApps, until, type RunningApp, type TestStack } from '@tools/testing';
import {
  counts,
  datasetImage,
  eventually,
  fakeLabel,
  form,
  IMAGENET_LABELS,
  publishResult,
  resultFor,
  startFakeWorker,
  startRealWorker,
  startWebApp,
  takeLaunches,
  type FakeWorker,
  type WebApp,
} from '../../test/web-test-kit';
import { ResultsStore } from './results/results.store';

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
      expect(res.headers.get('image-id')).toBe(body.imageId);
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

  describe('with an Idempotency-Key, across two tiers on the results topic', () => {
    const KEY_A = 'alpha-key-0123456789abcdef0123456789abcdef';
    const KEY_B = 'beta-key-0123456789abcdef0123456789abcdef0';
    const tiers: WebApp[] = [];
    let resources: AwsResources;
    let publisher: ResultPublisher;

    beforeAll(async () => {
      stack = await startTestStack({ queuePrefix: 'classic-key-' });
      const topic = await Topic.create(stack.clients.sns, 'classic-key-results');
      const env = { OUTPUT_TOPIC_ARN: topic.arn, WEB_TIER_QUEUE_PREFIX: 'classic-key-tier-', API_KEYS: `alpha=${KEY_A},beta=${KEY_B}`, CLASSIC_TIMEOUT_SECONDS: '3' };
      const started = await Promise.allSettled([1, 2].map(() => startWebApp(stack, env)));
      for (const s of started) if (s.status === 'fulfilled') tiers.push(s.value);
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      resources = new AwsResources(loadConfig({ ...stack.env, ...env }), stack.clients);
      // The test plays the worker: the result to the output bucket, then the topic every tier hears.
      publisher = new ResultPublisher(resources.outputBucket, resources.resultAnnouncements);
    });
    afterAll(async () => {
      await Promise.all(tiers.map((t) => t.close()));
      await stack?.stop();
    });

    const keyed = (tier: 0 | 1, key: string, i: number, apiKey = KEY_A, signal?: AbortSignal) =>
      fetch(`${tiers[tier].url}/`, { method: 'POST', headers: { 'x-api-key': apiKey, 'Idempotency-Key': key }, body: form('myfile', [datasetImage(i)]), signal });
    const answer = async (r: Response) => ({ status: r.status, imageId: r.headers.get('image-id'), text: await r.text() });
    /** Until the first request of a key has stored its answer (a retry before that is told 409, still in progress). */
    const keyAnswered = (tenant: string, key: string) =>
      until(`the ${key} answer is stored`, async () => {
        const record = idempotencyKey(tenant, createHash('sha256').update(key).digest('hex'));
        return (await resources.outputBucket.getBuffer(record).catch(() => undefined))?.toString('utf8').includes('"state":"done"') ?? false;
      });

    it("a retry on another tier while the first waits stores and queues nothing new: both get the same image's label and Image-Id", async () => {
      const before = (await stack.resources.inputBucket.list()).length;
      const first = keyed(0, 'classic-1', 20);
      const [launch] = await takeLaunches(stack.resources, 1);
      await keyAnswered('alpha', 'classic-1');
      // The retry (say the balancer cut the first) lands on the other tier, which waits for the first one's image.
      const retry = keyed(1, 'classic-1', 20);
      await until('the retry waits for the first image', () => tiers[1].app.get(ResultsStore).image(launch.imageId) !== undefined);
      await publisher.publish(resultFor(launch, 'tabby'));
      const answers = await Promise.all([first, retry].map(async (r) => answer(await r)));
      expect(answers).toEqual([
        { status: 200, imageId: launch.imageId, text: 'test_20:tabby' },
        { status: 200, imageId: launch.imageId, text: 'test_20:tabby' },
      ]);
      // One image stored, one launch message sent: the one the worker took.
      const stored = (await stack.resources.inputBucket.list()).map((o) => o.key);
      expect(stored).toHaveLength(before + 1);
      expect(stored.filter((k) => k.includes(launch.imageId))).toHaveLength(1);
      expect(await counts(stack.resources)).toMatchObject({ messages: 0 });
    });

    it('a retry after the first was cut answers at once from the stored result, on a tier that never heard of the image', async () => {
      const cut = new AbortController();
      const first = keyed(0, 'classic-2', 21, KEY_A, cut.signal).catch((e: unknown) => e);
      const [launch] = await takeLaunches(stack.resources, 1);
      await keyAnswered('alpha', 'classic-2');
      cut.abort();
      expect(await first).toMatchObject({ name: 'AbortError' });
      // Stored but never announced: only the output bucket has it.
      await publishResult(resources, resultFor(launch, 'velvet'), { bucket: true, queue: false });
      const objects = (await stack.resources.inputBucket.list()).length;
      const started = Date.now();
      expect(await answer(await keyed(1, 'classic-2', 21))).toEqual({ status: 200, imageId: launch.imageId, text: 'test_21:velvet' });
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await stack.resources.inputBucket.list()).length).toBe(objects);
      expect(await counts(stack.resources)).toMatchObject({ messages: 0 });
    });

    it("the same key with another file is 422 and stores nothing; another tenant's same key is its own request", async () => {
      const objects = (await stack.resources.inputBucket.list()).length;
      const other = await keyed(1, 'classic-1', 22);
      expect(other.status).toBe(422);
      expect(await other.json()).toMatchObject({ statusCode: 422, error: 'Unprocessable Entity', message: expect.stringContaining('Idempotency-Key') });
      expect((await stack.resources.inputBucket.list()).length).toBe(objects);
      expect(await counts(stack.resources)).toMatchObject({ messages: 0 });

      const beta = keyed(0, 'classic-1', 20, KEY_B);
      const [launch] = await takeLaunches(stack.resources, 1);
      expect(launch.tenant).toBe('beta');
      await publisher.publish(resultFor(launch, 'beta-label'));
      const got = await answer(await beta);
      expect(got).toEqual({ status: 200, imageId: launch.imageId, text: 'test_20:beta-label' });
    });
  });
});
