import { randomUUID } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import sharp from 'sharp';
import { startTestStack, type TestStack } from '@tools/testing';
import { counts, datasetImage, form, startWebApp, type WebApp } from '../../test/web-test-kit';

jest.setTimeout(60_000);

const MAX_FILES = 3;
const MAX_FILE_BYTES = 64 * 1024;

describe('bad input: a 4xx JSON error, nothing stored, nothing enqueued', () => {
  let stack: TestStack;
  let web: WebApp;
  let big: Buffer;

  beforeAll(async () => {
    stack = await startTestStack();
    web = await startWebApp(stack, { MAX_FILES: String(MAX_FILES), MAX_FILE_BYTES: String(MAX_FILE_BYTES) });
    // A real JPEG just over the limit.
    big = await sharp({ create: { width: 400, height: 400, channels: 3, background: '#777', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .jpeg({ quality: 100 })
      .toBuffer();
    expect(big.length).toBeGreaterThan(MAX_FILE_BYTES);
  });
  afterAll(async () => {
    await web?.close();
    await stack?.stop();
  });

  afterEach(async () => {
    expect(await counts(stack.resources)).toEqual({ objects: 0, messages: 0 });
  });

  async function expectError(res: Response, status: number, message: RegExp): Promise<void> {
    const body = await res.json();
    expect({ status: res.status, body }).toEqual({
      status,
      body: { statusCode: status, error: expect.any(String), message: expect.stringMatching(message) },
    });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  }

  const post = (body: FormData | string | undefined, path = '/api/images', headers: Record<string, string> = {}) =>
    fetch(`${web.url}${path}`, { method: 'POST', body, headers });

  const jpeg = () => datasetImage(0);

  /**
   * Posts a multipart body with node:http, declaring its full length but writing only its first
   * 16 KiB, and resolves with the answer. An upload refused by its declared length is answered
   * before its body is read, with `Connection: close`: fetch may still be writing the body then and
   * fail with `write EPIPE` before it reads the answer; here nothing is being written.
   */
  async function postDeclaringAll(path: string, body: FormData): Promise<Response> {
    const encoded = new Request('http://localhost/', { method: 'POST', body });
    const bytes = Buffer.from(await encoded.arrayBuffer());
    const { hostname, port } = new URL(web.url);
    return new Promise((resolve, reject) => {
      const req = request({ hostname, port, path, method: 'POST', headers: { 'content-type': encoded.headers.get('content-type') ?? '', 'content-length': bytes.length } });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: toHeaders(res.headers) }));
        });
        res.on('error', reject);
      });
      // The server closes the connection after its answer; only an error before the answer counts.
      req.on('error', (err) => answered || reject(err));
      req.write(bytes.subarray(0, 16 * 1024));
    });
  }

  it('no body, or not multipart', async () => {
    await expectError(await post(undefined), 400, /multipart\/form-data/);
    await expectError(await post('{"images": []}', '/api/images', { 'content-type': 'application/json' }), 400, /multipart\/form-data/);
  });

  it('no files (a text field only)', async () => {
    const f = new FormData();
    f.append('note', 'hello');
    await expectError(await post(f), 400, /^no files: send one or more images in the multipart field "images"$/);
  });

  it('the wrong field', async () => {
    await expectError(await post(form('image', [jpeg()])), 400, /unexpected file field "image".*field "images"/);
    await expectError(await post(form('images', [jpeg()]), '/'), 400, /unexpected file field "images".*field "myfile"/);
  });

  it('non-image bytes with an image extension, even among good files', async () => {
    const fake = { name: 'cat.jpg', bytes: Buffer.from('this is text, not a JPEG\n'), type: 'image/jpeg' };
    await expectError(await post(form('images', [fake])), 415, /file "cat\.jpg" is not a JPEG, PNG, WebP or GIF image/);
    await expectError(await post(form('images', [jpeg(), fake])), 415, /cat\.jpg.*nothing was accepted/);
    await expectError(await post(form('myfile', [fake]), '/'), 415, /cat\.jpg/);
  });

  it('zero bytes', async () => {
    await expectError(await post(form('images', [{ name: 'empty.png', bytes: Buffer.alloc(0) }])), 400, /file "empty\.png" is empty/);
  });

  it('over the size limit', async () => {
    await expectError(await post(form('images', [jpeg(), { name: 'big.jpg', bytes: big }])), 413, /larger than 64 KiB/);
    // A declared length no allowed upload can reach is refused before the body is read.
    const early = await postDeclaringAll('/', form('myfile', [{ name: 'big.jpg', bytes: big }]));
    expect(early.headers.get('connection')).toBe('close');
    await expectError(early, 413, /more than 1 file\(s\) of at most 64 KiB/);
    expect(await counts(stack.resources)).toEqual({ objects: 0, messages: 0 });
  });

  it('too many files', async () => {
    const four = Array.from({ length: MAX_FILES + 1 }, () => jpeg());
    await expectError(await post(form('images', four)), 413, /too many files: at most 3/);
    await expectError(await post(form('myfile', [jpeg(), jpeg()]), '/'), 400, /exactly one file|at most 1/);
  });

  it('a malformed id in a URL', async () => {
    for (const path of ['/api/images/nope', '/api/batches/123', '/api/batches/zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz/events']) {
      await expectError(await fetch(`${web.url}${path}`), 400, /must be a UUID/);
    }
  });

  it('an id nobody knows, and an unknown route', async () => {
    await expectError(await fetch(`${web.url}/api/images/${randomUUID()}`), 404, /no image/);
    await expectError(await fetch(`${web.url}/api/batches/${randomUUID()}`), 404, /no batch/);
    await expectError(await fetch(`${web.url}/api/batches/${randomUUID()}/events`), 404, /no batch/);
    await expectError(await fetch(`${web.url}/api/nothing-here`), 404, /Cannot GET/);
  });

  it('the page is told the file limit, so that it splits larger uploads', async () => {
    const html = await (await fetch(`${web.url}/`)).text();
    expect(html).toContain(`<meta name="ics-max-files" content="${MAX_FILES}" />`);
  });

  it('a truncated multipart body', async () => {
    const boundary = 'xxBOUNDARYxx';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff`;
    const res = await fetch(`${web.url}/api/images`, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    await expectError(res, 400, /malformed multipart body/);
  });
});

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
  }
  return headers;
}
