import { createServer, type Server } from 'node:http';
import { startTestStack, type TestStack } from '@tools/testing';
import { OutputConsumer } from './results/output-consumer';
import { datasetImage, eventually, form, startFakeWorker, startWebApp, type WebApp } from '../../test/web-test-kit';

jest.setTimeout(60_000);

describe('operations: health, metrics, API keys, rate limit, headers, CORS, Swagger, status', () => {
  let stack: TestStack;
  const apps: WebApp[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const web = await startWebApp(stack, env);
    apps.push(web);
    return web;
  };

  beforeAll(async () => {
    stack = await startTestStack();
  });
  // Every app consumes the one output queue: only this test's apps may run. A closed tier's last
  // output poll may still be open at the emulator (aborted, not waited out) and take the next
  // test's first result; the edge hands such a message back at once, so no test waits it out.
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });
  afterAll(() => stack?.stop());

  it('/health is up when S3 and SQS answer', async () => {
    const web = await start();
    const res = await fetch(`${web.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { s3: 'up', sqs: 'up', results: 'up' }, checkedAt: expect.stringMatching(/^\d{4}-/) });
  });

  it('/health is 503 when the output queue consumer is not running, whatever S3 and SQS say', async () => {
    const web = await start();
    expect((await fetch(`${web.url}/health`)).status).toBe(200);
    await web.app.get(OutputConsumer).consumer.stop();
    const res = await fetch(`${web.url}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'error', checks: { s3: 'up', sqs: 'up', results: 'down' } });
  });

  it('/metrics counts uploads, bytes, results and their end-to-end latency', async () => {
    const web = await start();
    const worker = startFakeWorker(stack.resources);
    try {
      const files = [datasetImage(10), datasetImage(11)];
      const res = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', files) });
      expect(res.status).toBe(202);
      await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [{ name: 'x.jpg', bytes: Buffer.from('nope') }]) });
      const bytes = files.reduce((n, f) => n + f.bytes.length, 0);
      const text = await eventually(async () => {
        const t = await (await fetch(`${web.url}/metrics`)).text();
        return /ics_web_result_latency_seconds_count\{status="ok"\} 2\b/.test(t) ? t : undefined;
        // Generous: the machine is shared, and a loaded emulator answers slowly.
      }, 30_000);
      expect(text).toContain('ics_web_uploads_total{mode="api",outcome="accepted"} 2');
      expect(text).toContain('ics_web_uploads_total{mode="api",outcome="refused"} 1');
      expect(text).toContain(`ics_web_upload_bytes_total{mode="api"} ${bytes}`);
      expect(text).toContain('ics_web_results_total{status="ok"} 2');
      expect(text).toMatch(/ics_web_result_latency_seconds_bucket\{le="10",status="ok"\} 2\b/);
      expect(text).toContain('ics_web_process_cpu_user_seconds_total');
    } finally {
      await worker.stop();
    }
  });

  it('API keys, when configured, guard the API and metrics but not the page or health', async () => {
    const [one, two] = ['k-one-0123456789abcdef0123456789ab', 'k-two-0123456789abcdef0123456789ab'];
    const web = await start({ API_KEYS: `${one},${two}` });
    const missing = await fetch(`${web.url}/api/status`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'missing API key: send it in the x-api-key header' });
    const wrong = await fetch(`${web.url}/api/images`, { method: 'POST', headers: { 'x-api-key': one.slice(0, -1) }, body: form('images', [datasetImage(0)]) });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).message).toBe('invalid API key');
    expect((await fetch(`${web.url}/`, { method: 'POST', body: form('myfile', [datasetImage(0)]) })).status).toBe(401);
    expect((await fetch(`${web.url}/api/status`, { headers: { 'x-api-key': two } })).status).toBe(200);
    expect((await fetch(`${web.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${web.url}/metrics`, { headers: { 'x-api-key': one } })).status).toBe(200);
    for (const open of ['/', '/health', '/assets/page.js']) {
      expect([open, (await fetch(`${web.url}${open}`)).status]).toEqual([open, 200]);
    }
    // Off by default.
    const plain = await start();
    expect((await fetch(`${plain.url}/api/status`)).status).toBe(200);
  });

  it('rate limiting answers 429 JSON past the limit per minute, for every route but the page', async () => {
    const web = await start({ RATE_LIMIT_PER_MINUTE: '3' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${web.url}/api/status`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await fetch(`${web.url}/api/status`);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await limited.json()).toEqual({ statusCode: 429, error: 'Too Many Requests', message: 'too many requests: at most 3 per minute' });
    // Health and metrics count too: nothing lets a client make requests without limit.
    expect((await fetch(`${web.url}/health`)).status).toBe(429);
    expect((await fetch(`${web.url}/metrics`)).status).toBe(429);
  });

  it('helmet sets security headers; CORS is off by default and allows the configured origins', async () => {
    const plain = await start();
    const res = await fetch(`${plain.url}/`, { headers: { origin: 'https://elsewhere.example' } });
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();

    const cors = await start({ CORS_ORIGINS: 'https://app.example' });
    const preflight = await fetch(`${cors.url}/api/images`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-api-key');
    const other = await fetch(`${cors.url}/api/status`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('Swagger documents every endpoint and DTO, with a multipart upload body', async () => {
    const web = await start();
    const ui = await fetch(`${web.url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
    const doc = await (await fetch(`${web.url}/docs-json`)).json();
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/',
        '/api/batches',
        '/api/batches/{batchId}',
        '/api/batches/{batchId}/close',
        '/api/batches/{batchId}/events',
        '/api/batches/{batchId}/images',
        '/api/batches/{batchId}/results',
        '/api/images',
        '/api/images/{imageId}',
        '/api/status',
        '/health',
        '/metrics',
      ].sort(),
    );
    expect(Object.keys(doc.paths['/'])).toEqual(['post']);
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['UploadResponseDto', 'UploadedImageDto', 'ImageResultDto', 'BatchDto', 'StatusDto', 'ErrorDto', 'PredictionDto']),
    );
    const upload = doc.paths['/api/images'].post;
    expect(upload.requestBody.content['multipart/form-data'].schema.properties.images).toEqual({ type: 'array', items: { type: 'string', format: 'binary' } });
    expect(Object.keys(upload.responses)).toEqual(expect.arrayContaining(['202', '400', '413', '415', '503']));
    expect(doc.components.securitySchemes['api-key']).toEqual({ type: 'apiKey', in: 'header', name: 'x-api-key' });
  });

  describe('/api/status', () => {
    let fleet: Server;
    let fleetUrl: string;
    beforeAll(async () => {
      fleet = createServer((req, res) => {
        if (req.url !== '/api/fleet') return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ running: 3, free: 1, pending: 2, lastDecision: { action: 'launch', count: 2, reason: 'backlog 5 > capacity 3' } }));
      });
      await new Promise<void>((r) => fleet.listen(0, '127.0.0.1', () => r()));
      fleetUrl = `http://127.0.0.1:${(fleet.address() as { port: number }).port}`;
    });
    afterAll(() => new Promise((r) => fleet.close(r)));

    it('reports the queue depths and the workers the launch controller reports', async () => {
      const web = await start({ LAUNCH_CONTROLLER_URL: `${fleetUrl}/` });
      await stack.resources.monitorQueue.send('{"m":1}', 60);
      await stack.resources.monitorQueue.send('{"m":2}');
      const status = await (await fetch(`${web.url}/api/status`)).json();
      expect(status).toEqual({
        workers: { running: 3, free: 1, pending: 2 },
        queues: {
          launch: { visible: 0, inFlight: 0, delayed: 0 },
          monitor: { visible: 1, inFlight: 0, delayed: 1 },
          output: { visible: 0, inFlight: 0, delayed: 0 },
        },
        lastDecision: { action: 'launch', count: 2, reason: 'backlog 5 > capacity 3' },
        updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
    });

    it('reports workers as null when the launch controller is unset or not answering', async () => {
      const unset = await start();
      expect((await (await fetch(`${unset.url}/api/status`)).json()).workers).toBeNull();
      const gone = await start({ LAUNCH_CONTROLLER_URL: `${fleetUrl}/not-a-controller` });
      const status = await (await fetch(`${gone.url}/api/status`)).json();
      expect(status.workers).toBeNull();
      expect(status.queues.launch).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    });
  });
});
