import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { AwsResources, Queue } from '@app/aws';
import { AppConfig } from '@app/config';
import { verifyWebhookSignature, WEBHOOK_DELIVERY_HEADER, WEBHOOK_SIGNATURE_HEADER } from '@app/api-client/webhooks';
import { webhookDeliveredKey, webhookEnqueuedKey, webhookPendingKey, WEBHOOK_PENDING_PREFIX } from '@app/contracts';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { closeTier, datasetImage, form, publishResult, resultFor, startWebApp, takeLaunches, type WebApp } from '../../../test/web-test-kit';
import { BatchFinished } from '../batches/batch-finished';
import { BatchIndex } from '../batches/batch-index';
import { ResultsService } from '../results/results.service';
import { ResultsStore } from '../results/results.store';
import { MetricsService } from '../ops/metrics.service';
import { PendingWebhookBatches } from './pending-webhook-batches';
import { retryDelaySeconds, RETRY_WINDOW_MS, WebhookDeliveries } from './webhook-deliveries';
import type { WebhookDelivery, WebhookPayload } from './webhook-delivery';
import { WebhookSecrets } from './webhook-secrets';
import { WebhookSender } from './webhook-sender';
import { STALE_CLAIM_MS, WebhookTrigger } from './webhook-trigger';

jest.setTimeout(60_000);

const KEY_A = 'alpha-key-0123456789abcdef0123456789abcdef';
const KEY_B = 'beta-key-0123456789abcdef0123456789abcdef0';
const SECRET_A = 'alpha-webhook-secret-0123456789abcdef0123';

interface Received {
  path: string;
  deliveryId: string;
  verdict: ReturnType<typeof verifyWebhookSignature>;
  payload: WebhookPayload;
}

/**
 * A webhook receiver as a user would write one: node:http on 127.0.0.1, the
 * raw body checked with the verifier the project documents; 401 for a bad
 * signature. `status` decides the answer to each good delivery.
 */
async function startReceiver(status: (n: number) => number = () => 204) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const verdict = verifyWebhookSignature(SECRET_A, req.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()], raw, { toleranceSeconds: 300 });
      received.push({ path: req.url ?? '', deliveryId: String(req.headers[WEBHOOK_DELIVERY_HEADER.toLowerCase()]), verdict, payload: JSON.parse(raw.toString()) as WebhookPayload });
      res.statusCode = verdict.valid ? status(received.length) : 401;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Nothing left to deliver: no webhook message waiting, in flight or delayed, and no batch pending. */
async function settled(aws: AwsResources): Promise<boolean> {
  const depth = await (aws.webhookQueue as Queue).depth();
  const pending = await aws.outputBucket.list(WEBHOOK_PENDING_PREFIX);
  return depth.visible + depth.inFlight + depth.delayed === 0 && pending.length === 0;
}

describe('webhooks', () => {
  let stack: TestStack;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let web: WebApp | undefined;

  beforeAll(async () => {
    stack = await startTestStack();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await closeTier(web);
    await receiver?.close();
    await stack?.stop();
  });

  const env = { API_KEYS: `alpha=${KEY_A},beta=${KEY_B}`, WEBHOOK_SECRETS: `alpha=${SECRET_A}`, PUBLIC_URL: 'https://ics.example.com/' };
  const call = (path: string, key: string, init: RequestInit = {}) =>
    fetch(`${(web as WebApp).url}${path}`, { ...init, headers: { 'x-api-key': key, ...(init.headers as Record<string, string> | undefined) } });
  const createBatch = async (key: string, body: object): Promise<Response> =>
    call('/api/batches', key, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  async function openBatch(callbackUrl: string, images: number[]): Promise<string> {
    const created = await createBatch(KEY_A, { callbackUrl, label: 'hooked' });
    expect(created.status).toBe(201);
    const { batchId } = (await created.json()) as { batchId: string };
    if (images.length > 0) expect((await call(`/api/batches/${batchId}/images`, KEY_A, { method: 'POST', body: form('images', images.map((i) => datasetImage(i))) })).status).toBe(202);
    return batchId;
  }
  const close = async (batchId: string) => expect((await call(`/api/batches/${batchId}/close`, KEY_A, { method: 'POST' })).status).toBe(200);

  describe('in the web tier', () => {
    beforeAll(async () => {
      web = await startWebApp(stack, env);
    });

    it('does not start with a malformed WEBHOOK_SECRETS, naming the entry, never the secret', async () => {
      const failed = await startWebApp(stack, { ...env, WEBHOOK_SECRETS: 'alpha=too-short-secret' }).then(
        (app) => app.close().then(() => undefined),
        (err: unknown) => err as Error,
      );
      expect(failed?.message).toMatch(/WEBHOOK_SECRETS: entry 1 of 1 \(tenant alpha\) has 16 bytes/);
      expect(failed?.message).not.toContain('too-short-secret');
    });

    it('refuses a callbackUrl of a tenant without a webhook secret (400, nothing stored)', async () => {
      const res = await createBatch(KEY_B, { callbackUrl: `${receiver.url}/b` });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/tenant beta has no webhook secret/) });
      expect((await stack.resources.outputBucket.list(`${WEBHOOK_PENDING_PREFIX}beta/`)).length).toBe(0);
    });

    it('sends one signed delivery per finished batch, however often the batch is read or re-checked', async () => {
      const first = await openBatch(`${receiver.url}/one?token=abc`, [1, 2]);
      const second = await openBatch(`${receiver.url}/two`, [3]);
      expect(await stack.resources.outputBucket.exists(webhookPendingKey('alpha', first))).toBe(true);
      const launches = await takeLaunches(stack.resources, 3);
      for (const l of launches.filter((x) => x.batchId === first)) await publishResult(stack.resources, resultFor(l, `label of ${l.fileName}`));
      // The first closed after its results: the close finds it finished.
      await close(first);
      // The second closed before its result: the result finds it finished (well before the 30 s re-check).
      await close(second);
      for (const l of launches.filter((x) => x.batchId === second)) await publishResult(stack.resources, resultFor(l, `label of ${l.fileName}`));
      await until('two deliveries', () => receiver.received.length >= 2, 15_000);

      const trigger = (web as WebApp).app.get(WebhookTrigger);
      for (const batchId of [first, second]) expect((await call(`/api/batches/${batchId}`, KEY_A)).status).toBe(200);
      await trigger.sweep();
      await until('nothing left to deliver', () => settled(stack.resources));

      expect(receiver.received).toHaveLength(2);
      const byBatch = new Map(receiver.received.map((r) => [r.payload.batchId, r]));
      expect(byBatch.get(first)).toMatchObject({
        path: '/one?token=abc',
        deliveryId: first,
        verdict: { valid: true },
        payload: { event: 'batch.finished', deliveryId: first, batchId: first, label: 'hooked', total: 2, done: 2, failed: 0, resultsUrl: `https://ics.example.com/api/batches/${first}/results` },
      });
      expect(byBatch.get(second)).toMatchObject({ path: '/two', verdict: { valid: true }, payload: { batchId: second, total: 1, done: 1, failed: 0 } });
      expect(await stack.resources.outputBucket.exists(webhookDeliveredKey(first))).toBe(true);
      expect(await (await call('/metrics', KEY_A)).text()).toMatch(/^ics_web_webhook_attempts_total\{outcome="delivered"\} 2$/m);
    });

    it('enqueues again a delivery whose claimer died before sending it, once the claim is stale, and delivers it once', async () => {
      const batchId = await openBatch(`${receiver.url}/stale`, [5]);
      const [launch] = await takeLaunches(stack.resources, 1);
      // A tier claimed the delivery and died before sending it: the claim is there, the pending marker too.
      await stack.resources.outputBucket.createIfAbsent(webhookEnqueuedKey(batchId), '{}');
      await close(batchId);
      await publishResult(stack.resources, resultFor(launch, 'a lighthouse'));
      await until('the batch finished', async () => ((await (await call(`/api/batches/${batchId}`, KEY_A)).json()) as { finished: boolean }).finished);
      const app = (web as WebApp).app;
      const later = (ms: number) =>
        new WebhookTrigger(app.get(AwsResources), app.get(BatchIndex), app.get(ResultsService), app.get(ResultsStore), app.get(BatchFinished), app.get(PendingWebhookBatches), app.get(AppConfig), () => Date.now() + ms);
      expect(await later(0).check('alpha', batchId)).toBe('already-enqueued');
      expect(receiver.received.some((r) => r.payload.batchId === batchId)).toBe(false);
      expect(await later(STALE_CLAIM_MS + 60_000).check('alpha', batchId)).toBe('enqueued');
      await until('the delivery', () => receiver.received.some((r) => r.payload.batchId === batchId), 15_000);
      expect(await later(STALE_CLAIM_MS + 60_000).check('alpha', batchId)).toBe('already-enqueued');
      await until('nothing left to deliver', () => settled(stack.resources));
      expect(receiver.received.filter((r) => r.payload.batchId === batchId)).toHaveLength(1);
    });

    it('delivers exactly once when the web tier restarted between the last result and the delivery', async () => {
      const batchId = await openBatch(`${receiver.url}/restart`, [4]);
      const [launch] = await takeLaunches(stack.resources, 1);
      await close(batchId);
      await closeTier(web);
      web = undefined;
      // The last result arrives while no tier runs: nothing in memory anywhere knows the batch finished.
      await publishResult(stack.resources, resultFor(launch, 'a lighthouse'));
      web = await startWebApp(stack, env);
      await until('the delivery after the restart', () => receiver.received.some((r) => r.payload.batchId === batchId), 20_000);
      await (web as WebApp).app.get(WebhookTrigger).sweep();
      await until('nothing left to deliver', () => settled(stack.resources));
      expect(receiver.received.filter((r) => r.payload.batchId === batchId)).toEqual([
        expect.objectContaining({ path: '/restart', verdict: { valid: true, timestamp: expect.any(Number) }, payload: expect.objectContaining({ total: 1, done: 1 }) }),
      ]);
    });
  });

  describe('a delivery attempt (injected clock)', () => {
    let scratch: Queue;
    let failing: Awaited<ReturnType<typeof startReceiver>>;
    let deliveries: WebhookDeliveries;
    let sender: WebhookSender;
    // Starts at the real time: the receiver checks the signature's timestamp against its own clock.
    let now = Date.now();
    let sends: jest.SpyInstance<Promise<string>, Parameters<Queue['send']>>;
    const sent = () => sends.mock.calls.map(([body, delay]) => ({ body, delay }));

    beforeAll(async () => {
      // Retries go to a queue no web tier consumes, so the test sees each one.
      scratch = new Queue(stack.clients.sqs, stack.aws.queues.webhookDeadLetter);
      failing = await startReceiver((n) => (n === 1 ? 500 : 200));
      sender = new WebhookSender({ production: false });
      const secrets = new WebhookSecrets({ web: { webhookSecrets: [`alpha=${SECRET_A}`] } } as never);
      const aws = { outputBucket: stack.resources.outputBucket, webhookQueue: scratch } as unknown as AwsResources;
      deliveries = new WebhookDeliveries(aws, secrets, sender, new MetricsService(), { web: { outputPollSeconds: 1 } } as never, () => now);
      sends = jest.spyOn(scratch, 'send');
    });
    afterAll(async () => {
      sender?.close();
      await failing?.close();
    });

    const message = (d: Partial<WebhookDelivery>) => ({
      messageId: 'm',
      body: JSON.stringify({ v: 1, deliveryId: 'c0ffee00-0000-4000-8000-000000000001', tenant: 'alpha', batchId: 'c0ffee00-0000-4000-8000-000000000001', callbackUrl: `${failing.url}/retry`, body: '{"batchId":"c0ffee00-0000-4000-8000-000000000001"}', firstEnqueuedAt: now, attempt: 1, ...d }),
    });

    it('backs off exponentially, 900 s at most a hop', () => {
      expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 30].map(retryDelaySeconds)).toEqual([10, 20, 40, 80, 160, 320, 640, 900, 900, 900]);
    });

    it('re-queues a delivery the receiver answered 500 to, delayed, then delivers it once and never repeats it', async () => {
      expect(await deliveries.handle(message({}))).toBe('retry-scheduled');
      expect(sent()).toHaveLength(1);
      expect(sent()[0].delay).toBe(10);
      expect(JSON.parse(sent()[0].body)).toMatchObject({ attempt: 2, firstEnqueuedAt: now });
      expect((await scratch.depth()).delayed).toBe(1);

      now += 10_000;
      expect(await deliveries.handle({ messageId: 'm2', body: sent()[0].body })).toBe('delivered');
      expect(await deliveries.handle({ messageId: 'm3', body: sent()[0].body })).toBe('duplicate');
      expect(failing.received.map((r) => [r.verdict.valid, r.payload.batchId])).toEqual([
        [true, 'c0ffee00-0000-4000-8000-000000000001'],
        [true, 'c0ffee00-0000-4000-8000-000000000001'],
      ]);
      expect(sent()).toHaveLength(1);
    });

    it('gives up with a log line once the next try would be more than 24 h after the first, naming no secret or path', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const down = await startReceiver(() => 503);
      try {
        const late = message({ deliveryId: 'c0ffee00-0000-4000-8000-000000000002', firstEnqueuedAt: now - RETRY_WINDOW_MS + 60_000, attempt: 40, callbackUrl: `${down.url}/x?token=s3cr3t` });
        expect(await deliveries.handle(late)).toBe('given-up');
        expect(down.received).toHaveLength(1);
      } finally {
        await down.close();
      }
      const lines = warn.mock.calls.map((c) => String(c[0]));
      warn.mockRestore();
      expect(sent()).toHaveLength(1);
      const line = lines.find((l) => l.includes('given up after 40 attempts over 24 h'));
      expect(line).toContain('the receiver answered 503');
      expect(line).not.toMatch(/s3cr3t|\/x|alpha-webhook-secret/);
    });
  });
});
