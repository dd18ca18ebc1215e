import { createServer } from 'node:net';
import { startTestStack, type TestStack } from '@tools/testing';
import { counts, datasetImage, form, startWebApp, type WebApp } from '../testing/web-test-kit';

jest.setTimeout(60_000);

/** A loopback port nothing listens on. */
async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

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
    expect(await health.json()).toMatchObject({ status: 'error', error: { s3: { status: 'down' } }, info: { sqs: { status: 'up' } } });
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
    expect(await health.json()).toMatchObject({ status: 'error', error: { sqs: { status: 'down' } }, info: { s3: { status: 'up' } } });

    // The status panel still answers, with what it could not read as null.
    const status = await (await fetch(`${web.url}/api/status`)).json();
    expect(status).toMatchObject({ workers: null, queues: { launch: null, monitor: null, output: null } });
  });
});
