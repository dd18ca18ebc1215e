import { startTestStack, type TestStack } from '@tools/testing';
import { counts, datasetImage, deadEndpoint, faultyS3, form, startWebApp, type WebApp } from '../../test/web-test-kit';

jest.setTimeout(60_000);

describe('storage or queue unreachable: 503 JSON, and no image stored without its message', () => {
  let stack: TestStack;
  let web: WebApp | undefined;

  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterEach(async () => {
    await web?.close();
    web = undefined;
  });
  afterAll(() => stack?.stop());

  it('S3 unreachable: nothing stored, nothing sent, the files named; /health says s3 is down', async () => {
    web = await startWebApp(stack, { AWS_ENDPOINT_URL_S3: await deadEndpoint() });
    const res = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [datasetImage(0), datasetImage(1)]) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'storage or queue unavailable: no file was accepted (s3.PutObject: UnreachableError)',
      failed: [
        { fileName: 'test_0.JPEG', reason: 's3.PutObject: UnreachableError', cleanedUp: true },
        { fileName: 'test_1.JPEG', reason: 's3.PutObject: UnreachableError', cleanedUp: true },
      ],
    });
    expect(await counts(stack.resources)).toEqual({ objects: 0, messages: 0 });

    const classic = await fetch(`${web.url}/`, { method: 'POST', body: form('myfile', [datasetImage(2)]) });
    expect(classic.status).toBe(503);
    expect(await classic.json()).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });

    const health = await fetch(`${web.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'error', checks: { s3: 'down', sqs: 'up' } });
  });

  it('SQS unreachable: the stored images are removed again and the files named; /health says sqs is down', async () => {
    web = await startWebApp(stack, { AWS_ENDPOINT_URL_SQS: await deadEndpoint() });
    const res = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [datasetImage(3), datasetImage(4), datasetImage(5)]) });
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', message: expect.stringContaining('sqs.SendMessageBatch: UnreachableError') });
    expect(body.failed).toEqual(
      ['test_3.JPEG', 'test_4.JPEG', 'test_5.JPEG'].map((fileName) => ({ fileName, reason: 'sqs.SendMessageBatch: UnreachableError', cleanedUp: true })),
    );
    expect(await counts(stack.resources)).toEqual({ objects: 0, messages: 0 });

    const health = await fetch(`${web.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'error', checks: { s3: 'up', sqs: 'down' } });

    // The status panel still answers, with what it could not read as null.
    const status = await (await fetch(`${web.url}/api/status`)).json();
    expect(status).toMatchObject({ workers: null, queues: { launch: null, monitor: null, output: null } });
  });

  it('one file failing to store: the others are accepted (202), the failed one is named, and only accepted ones are queued', async () => {
    const proxy = await faultyS3(stack.env['AWS_ENDPOINT_URL'], (req) => req.method === 'PUT' && req.headers['x-amz-meta-file-name'] === 'test_1.JPEG');
    try {
      web = await startWebApp(stack, { AWS_ENDPOINT_URL_S3: proxy.url });
      const res = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [datasetImage(0), datasetImage(1), datasetImage(2)]) });
      expect(res.status).toBe(202);
      const body = await res.json();
      expect(body.images.map((i: { fileName: string }) => i.fileName)).toEqual(['test_0.JPEG', 'test_2.JPEG']);
      expect(body.failed).toEqual([{ fileName: 'test_1.JPEG', reason: 's3.PutObject: RetryableError', cleanedUp: true }]);
      expect(await counts(stack.resources)).toEqual({ objects: 2, messages: 2 });
      const batch = await (await fetch(`${web.url}/api/batches/${body.batchId}`)).json();
      expect(batch).toMatchObject({ total: 2, queued: 2 });
      const metrics = await (await fetch(`${web.url}/metrics`)).text();
      expect(metrics).toContain('ics_web_uploads_total{mode="api",outcome="failed"} 1');
      expect(metrics).toContain('ics_web_uploads_total{mode="api",outcome="accepted"} 2');
    } finally {
      await web?.close();
      web = undefined;
      await proxy.close();
      // Leave the stack empty for the next test.
      const left = await stack.resources.launchQueue.receive({ maxMessages: 10 });
      await stack.resources.launchQueue.deleteBatch(left.map((m) => m.receiptHandle));
    }
  });

  it('queue unreachable and the clean-up failing too: 503 says which stored images were left behind', async () => {
    const before = (await stack.resources.inputBucket.list()).length;
    const proxy = await faultyS3(stack.env['AWS_ENDPOINT_URL'], (req) => req.method === 'DELETE');
    try {
      web = await startWebApp(stack, { AWS_ENDPOINT_URL_S3: proxy.url, AWS_ENDPOINT_URL_SQS: await deadEndpoint() });
      const res = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [datasetImage(6)]) });
      expect(res.status).toBe(503);
      expect((await res.json()).failed).toEqual([{ fileName: 'test_6.JPEG', reason: 'sqs.SendMessageBatch: UnreachableError', cleanedUp: false }]);
      expect((await stack.resources.inputBucket.list()).length).toBe(before + 1);
    } finally {
      await proxy.close();
    }
  });
});
