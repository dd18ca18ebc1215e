import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import { startTestStack, type TestStack } from '@tools/testing';
import { counts, emptyUploads, eventually, form, startWebApp, type WebApp } from '../../../test/web-test-kit';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;
const BOUNDARY = 'abuse-test-boundary-41c7';
const KEY_A = 'alpha-key-0123456789abcdef0123456789abcdef';
const KEY_B = 'beta-key-0123456789abcdef0123456789abcdef01';

/** A JPEG-signed file of `size` bytes. */
function jpeg(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size, seed % 251);
  b.set([0xff, 0xd8, 0xff, 0xe0], 0);
  return b;
}

const partHead = (name: string) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="${name}"\r\nContent-Type: image/jpeg\r\n\r\n`;
const lastBoundary = `\r\n--${BOUNDARY}--\r\n`;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * An upload written by hand over node:http, chunked (no declared length), so
 * the test sets its pace. The answer is read even when the server answers
 * before the body is done and closes the connection under the writer.
 */
function openUpload(url: string, headers: Record<string, string> = {}, path = '/api/images') {
  const { port } = new URL(url);
  const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, ...headers } });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    // A write after the server closed fails; only an error before any answer is the test's failure.
    req.on('error', reject);
  });
  answer.catch(() => undefined);
  let trickle: NodeJS.Timeout | undefined;
  return {
    answer,
    write: (chunk: string | Buffer) => req.write(chunk),
    /** `bytes()` bytes every 100 ms until the answer comes. */
    trickle(bytes: () => number) {
      trickle = setInterval(() => req.write(Buffer.alloc(bytes(), 7)), 100);
      void answer.finally(() => clearInterval(trickle)).catch(() => undefined);
    },
    end: (chunk: string | Buffer) => req.end(chunk),
    destroy() {
      clearInterval(trickle);
      req.destroy();
    },
  };
}

/** A value from /metrics; `name` may carry labels, as the page writes them: `x_total{what="uploads"}`. */
async function metric(web: WebApp, name: string): Promise<number> {
  const text = await (await fetch(`${web.url}/metrics`, { headers: { 'x-api-key': KEY_A } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not in /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('upload and stream abuse', () => {
  let stack: TestStack;
  let web: WebApp | undefined;
  const open: { destroy(): void }[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) o.destroy();
    await web?.close();
    web = undefined;
    await emptyUploads(stack.resources);
  });
  afterAll(() => stack?.stop());

  it('slow bodies are cut with 408 and leave nothing stored, and hold no memory a normal upload needs meanwhile', async () => {
    // Before, each of these bodies reserved one file's worth (1 MiB) up front: the third would have got 503, and so would the normal upload.
    web = await startWebApp(stack, { UPLOAD_RATE_WINDOW_SECONDS: '1', UPLOAD_MIN_BYTES_PER_SECOND: '1024', MAX_FILE_BYTES: String(MiB), UPLOAD_MAX_BYTES_IN_FLIGHT: String(2 * MiB) });
    const slow = Array.from({ length: 4 }, () => openUpload(web?.url ?? ''));
    open.push(...slow);
    // The first one sends a whole file, which is stored, and keeps a good pace until the test has seen it stored; then it slows down.
    let firstPace = 2048;
    slow[0].write(partHead('first.jpg'));
    slow[0].write(jpeg(20_000));
    slow[0].write(`\r\n${partHead('second.jpg')}`);
    for (const s of slow.slice(1)) s.write(partHead('slow.jpg'));
    // Each file starts as a JPEG (its first bytes are checked at once), then comes at 100 bytes/s.
    for (const s of slow) s.write(jpeg(12));
    slow[0].trickle(() => firstPace);
    for (const s of slow.slice(1)) s.trickle(() => 10);
    await eventually(async () => (await stack.resources.inputBucket.list()).length === 1);
    firstPace = 10;

    const normal = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [{ name: 'normal.jpg', bytes: jpeg(500_000, 2) }]) });
    expect(normal.status).toBe(202);

    const answers = await Promise.all(slow.map((s) => s.answer));
    for (const a of answers) {
      expect(a.status).toBe(408);
      expect(a.headers.connection).toBe('close');
      expect(JSON.parse(a.body)).toEqual({
        statusCode: 408,
        error: 'Request Timeout',
        message: expect.stringMatching(/^the upload was too slow: \d+ bytes in 1 s, at least 1024 bytes\/s are needed; nothing was accepted$/),
      });
    }
    // Only the normal upload is stored and queued; the slow ones' memory is back.
    expect(await counts(stack.resources)).toEqual({ objects: 1, messages: 1 });
    expect(await metric(web, 'ics_web_upload_reserved_bytes')).toBe(0);
    expect(await metric(web, 'ics_web_upload_buffered_bytes')).toBe(0);
    expect(await metric(web, 'ics_web_uploads_too_slow_total')).toBe(4);
  });

  it('a body that grows past the memory left gets 503 mid-body and leaves nothing stored; the others go through', async () => {
    // Room for two whole files and the third's first 64 KiB.
    web = await startWebApp(stack, { MAX_FILE_BYTES: String(MiB), UPLOAD_MAX_BYTES_IN_FLIGHT: String(2 * MiB + 64 * 1024) });
    const ups = Array.from({ length: 2 }, () => openUpload(web?.url ?? ''));
    open.push(...ups);
    // Both fit their whole need (1 MiB each) at the start, and each holds 64 KiB.
    for (const u of ups) u.write(Buffer.concat([Buffer.from(partHead('grow.jpg')), jpeg(12)]));
    await eventually(async () => (await metric(web as WebApp, 'ics_web_upload_reserved_bytes')) === 2 * 64 * 1024);
    const third = openUpload(web.url);
    open.push(third);
    third.write(Buffer.concat([Buffer.from(partHead('third.jpg')), jpeg(12)]));
    await eventually(async () => (await metric(web as WebApp, 'ics_web_upload_reserved_bytes')) === 3 * 64 * 1024);
    // The first two grow to 1 MiB each: the cap is full, and the third cannot grow.
    for (const u of ups) u.write(Buffer.alloc(600_000, 3));
    await eventually(async () => (await metric(web as WebApp, 'ics_web_upload_reserved_bytes')) === 2 * MiB + 64 * 1024);
    third.write(Buffer.alloc(200_000, 3));
    const refused = await third.answer;
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('2');
    expect(JSON.parse(refused.body).message).toBe('busy: uploads already hold 2.1 MiB of 2.1 MiB in memory; try again in 2 s');
    for (const u of ups) u.end(lastBoundary);
    expect((await Promise.all(ups.map((u) => u.answer))).map((a) => a.status)).toEqual([202, 202]);
    expect(await counts(stack.resources)).toEqual({ objects: 2, messages: 2 });
    expect(await metric(web, 'ics_web_upload_reserved_bytes')).toBe(0);
  });

  describe('caps per client address, per tenant and in all', () => {
    const env = {
      API_KEYS: `alpha=${KEY_A},beta=${KEY_B}`,
      UPLOADS_PER_IP_MAX: '2',
      UPLOADS_PER_TENANT_MAX: '3',
      WAITING_CONNECTIONS_PER_IP_MAX: '1',
      WAITING_CONNECTIONS_MAX: '2',
      // Uploads held open here are slow on purpose.
      UPLOAD_MIN_BYTES_PER_SECOND: '0',
    };
    /** A client behind the load balancer: its address is the last X-Forwarded-For entry the balancer adds. */
    const client = (ip: string, key = KEY_A) => ({ 'x-forwarded-for': ip, 'x-api-key': key });

    it('uploads in flight: 429 with Retry-After past the cap per client address and per tenant; places come back', async () => {
      web = await startWebApp(stack, env);
      const url = web.url;
      const held = [openUpload(url, client('10.0.0.1')), openUpload(url, client('10.0.0.1'))];
      open.push(...held);
      for (const h of held) h.write(partHead('held.jpg'));
      // Admitted: each holds its first 64 KiB.
      const admitted = async (n: number) => eventually(async () => (await metric(web as WebApp, 'ics_web_upload_reserved_bytes')) === n * 64 * 1024);
      await admitted(2);
      const third = openUpload(url, client('10.0.0.1'));
      open.push(third);
      third.write(partHead('third.jpg'));
      const refused = await third.answer;
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('5');
      expect(JSON.parse(refused.body)).toEqual({
        statusCode: 429,
        error: 'Too Many Requests',
        message: 'too many uploads at once: at most 2 per client address; try again in 5 s',
        retryAfterSeconds: 5,
      });
      expect(await metric(web, 'ics_web_client_limited_total{what="uploads",scope="address"}')).toBe(1);

      const otherAddress = openUpload(url, client('10.0.0.2'));
      open.push(otherAddress);
      otherAddress.write(partHead('other.jpg'));
      await admitted(3);
      const byTenant = openUpload(url, client('10.0.0.3'));
      byTenant.end(Buffer.concat([Buffer.from(partHead('t.jpg')), jpeg(1000), Buffer.from(lastBoundary)]));
      expect(JSON.parse((await byTenant.answer).body).message).toBe('too many uploads at once: at most 3 per tenant; try again in 5 s');
      // Another tenant from that address is not held back.
      const beta = openUpload(url, client('10.0.0.3', KEY_B));
      beta.end(Buffer.concat([Buffer.from(partHead('b.jpg')), jpeg(1000), Buffer.from(lastBoundary)]));
      expect((await beta.answer).status).toBe(202);

      for (const h of [...held, otherAddress]) {
        h.end(Buffer.concat([jpeg(1000), Buffer.from(lastBoundary)]));
        expect((await h.answer).status).toBe(202);
      }
      const again = openUpload(url, client('10.0.0.1'));
      again.end(Buffer.concat([Buffer.from(partHead('again.jpg')), jpeg(1000), Buffer.from(lastBoundary)]));
      expect((await again.answer).status).toBe(202);
      expect(await counts(stack.resources)).toEqual({ objects: 5, messages: 5 });
    });

    it('event streams and classic requests: 429 with Retry-After past the cap per client address and in all; a closed stream gives its place back', async () => {
      web = await startWebApp(stack, env);
      const url = web.url;
      const up = await fetch(`${url}/api/images`, { method: 'POST', headers: client('10.0.1.9'), body: form('images', [{ name: 'a.jpg', bytes: jpeg(1000) }]) });
      const { batchId } = (await up.json()) as { batchId: string };
      // No worker: the batch stays unanswered and its streams stay open.
      const streams: AbortController[] = [];
      const follow = (ip: string) => {
        const abort = new AbortController();
        streams.push(abort);
        return fetch(`${url}/api/batches/${batchId}/events`, { headers: client(ip), signal: abort.signal });
      };
      open.push({ destroy: () => streams.forEach((s) => s.abort()) });

      expect((await follow('10.0.1.1')).status).toBe(200);
      const sameAddress = await follow('10.0.1.1');
      expect(sameAddress.status).toBe(429);
      expect(sameAddress.headers.get('retry-after')).toBe('5');
      expect((await sameAddress.json()).message).toBe('too many open event streams and classic requests at once: at most 1 per client address; try again in 5 s');
      expect((await follow('10.0.1.2')).status).toBe(200);
      const classic = await fetch(`${url}/`, { method: 'POST', headers: client('10.0.1.3'), body: form('myfile', [{ name: 'c.jpg', bytes: jpeg(1000) }]) });
      expect(classic.status).toBe(429);
      expect((await classic.json()).message).toBe('too many open event streams and classic requests at once: at most 2 in all; try again in 5 s');

      streams[0].abort();
      await eventually(async () => {
        const res = await follow('10.0.1.3');
        if (res.status === 200) return true;
        await res.body?.cancel();
        return false;
      });
      // The refused classic request stored nothing.
      expect(await counts(stack.resources)).toEqual({ objects: 1, messages: 1 });
    });
  });

  it("keeps idle connections and waits for headers longer than the load balancer's idle timeout (330 s in the stack)", async () => {
    web = await startWebApp(stack);
    const server = web.app.getHttpServer() as Server;
    expect(server.keepAliveTimeout).toBe(335_000);
    expect(server.headersTimeout).toBe(340_000);
    expect(server.requestTimeout).toBeGreaterThanOrEqual(server.headersTimeout);
  });
});
