import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { ConfigError } from '@app/config';
import { counts, emptyUploads, eventually, form, startWebApp, webTiersPerTest, type WebApp } from '../../../test/web-test-kit';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const BOUNDARY = 'streaming-test-boundary-7f3a';

/** A JPEG-signed file of `size` bytes, different for each i. */
function fileBytes(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, (i * 37) % 251);
  b.set([0xff, 0xd8, 0xff, 0xe0], 0);
  b.writeUInt32BE(i, 4);
  return b;
}

interface PartSpec {
  name: string;
  size: number;
  bytes?: (i: number, size: number) => Buffer;
}

/**
 * A multipart body produced part by part as the server reads it (the test
 * never holds the whole upload), with no Content-Length. `gate(i)` may hold
 * the body before part i, to keep a request open.
 */
function streamingBody(parts: PartSpec[], gate: (i: number) => Promise<void> = async () => undefined) {
  const hashes: string[] = [];
  let i = 0;
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (closed) return;
      if (i === parts.length) {
        controller.enqueue(Buffer.from(`--${BOUNDARY}--\r\n`));
        controller.close();
        closed = true;
        return;
      }
      await gate(i);
      const p = parts[i];
      const bytes = (p.bytes ?? fileBytes)(i, p.size);
      hashes[i] = createHash('sha256').update(bytes).digest('hex');
      controller.enqueue(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="${p.name}"\r\nContent-Type: image/jpeg\r\n\r\n`));
      // In slices, as a network would deliver it.
      for (let at = 0; at < bytes.length; at += 256 * 1024) controller.enqueue(bytes.subarray(at, at + 256 * 1024));
      controller.enqueue(Buffer.from('\r\n'));
      i++;
    },
  });
  return { stream, hashes };
}

function post(url: string, body: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/api/images`, {
    method: 'POST',
    body,
    signal,
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    duplex: 'half',
  } as RequestInit);
}

async function metric(web: WebApp, name: string): Promise<number> {
  const text = await (await fetch(`${web.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  if (!m) throw new Error(`${name} not in /metrics`);
  return Number(m[1]);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('uploads stream to S3 with bounded memory', () => {
  const tiers = webTiersPerTest({ afterEachTest: (stack) => emptyUploads(stack.resources) });

  it('a 16 MiB upload of 8 files is held at most one file (2 MiB) at a time, and every byte arrives', async () => {
    const web = await tiers.start({ MAX_FILE_BYTES: String(2 * MiB), MAX_FILES: '10' });
    const parts = Array.from({ length: 8 }, (_, i) => ({ name: `big-${i}.jpg`, size: 2 * MiB }));
    const { stream, hashes } = streamingBody(parts);
    const res = await post(web.url, stream);
    const body = (await res.json()) as { batchId: string; images: { imageId: string; fileName: string }[] };
    expect({ status: res.status, files: body.images?.length }).toEqual({ status: 202, files: 8 });
    for (const [i, img] of body.images.entries()) {
      expect(img.fileName).toBe(`big-${i}.jpg`);
      const stored = await tiers.stack.resources.inputBucket.getBuffer(`${body.batchId}/${img.imageId}.jpg`);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(hashes[i]);
    }
    const peak = await metric(web, 'ics_web_upload_buffered_peak_bytes');
    // Memory stores would have held all 16 MiB before the first byte reached S3.
    expect(peak).toBeGreaterThanOrEqual(2 * MiB);
    expect(peak).toBeLessThanOrEqual(2 * MiB);
    expect(await metric(web, 'ics_web_upload_buffered_bytes')).toBe(0);
    expect(await metric(web, 'ics_web_upload_reserved_bytes')).toBe(0);
    expect(await counts(tiers.stack.resources)).toEqual({ objects: 8, messages: 8 });
  });

  it('a bad file late in the upload: 415, and the files already streamed to S3 are removed, nothing enqueued', async () => {
    const web = await tiers.start({ MAX_FILE_BYTES: String(MiB) });
    const parts: PartSpec[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ name: `ok-${i}.jpg`, size: MiB / 2 })),
      { name: 'notes.jpg', size: 1000, bytes: (_i, size) => Buffer.alloc(size, 'a') },
      { name: 'after.jpg', size: MiB / 2 },
    ];
    const res = await post(web.url, streamingBody(parts).stream);
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({
      statusCode: 415,
      error: 'Unsupported Media Type',
      message: 'file "notes.jpg" is not a JPEG, PNG, WebP or GIF image (judged by its bytes); nothing was accepted',
    });
    expect(await counts(tiers.stack.resources)).toEqual({ objects: 0, messages: 0 });
    expect(await metric(web, 'ics_web_upload_buffered_bytes')).toBe(0);
  });

  it('past UPLOAD_MAX_BYTES_IN_FLIGHT: 503 with Retry-After before the body is read; room again once uploads finish', async () => {
    const web = await tiers.start({ MAX_FILE_BYTES: String(MiB), UPLOAD_MAX_BYTES_IN_FLIGHT: String(2 * MiB) });
    // Two uploads without a declared length, each needing one file's worth, stay open. Each has brought
    // 600 KB, and a body holds twice what it has brought up to its need: the whole MiB each.
    const gates = [deferred(), deferred()];
    const open = gates.map((g) => {
      const { stream } = streamingBody([{ name: 'a.jpg', size: 600_000 }, { name: 'b.jpg', size: 1000 }], (i) => (i === 1 ? g.promise : Promise.resolve()));
      return post(tiers.tier.url, stream);
    });
    await eventually(async () => (await metric(tiers.tier, 'ics_web_upload_reserved_bytes')) === 2 * MiB);

    const refused = await post(web.url, streamingBody([{ name: 'c.jpg', size: 1000 }]).stream);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(await refused.json()).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'busy: uploads already hold 2 MiB of 2 MiB in memory; try again in 2 s',
      retryAfterSeconds: 2,
    });
    expect(await metric(web, 'ics_web_uploads_busy_total')).toBe(1);

    for (const g of gates) g.resolve();
    expect((await Promise.all(open)).map((r) => r.status)).toEqual([202, 202]);
    expect(await metric(web, 'ics_web_upload_reserved_bytes')).toBe(0);
    // A small upload with a declared length reserves only that much.
    const small = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [{ name: 'd.jpg', bytes: fileBytes(9, 1000) }]) });
    expect(small.status).toBe(202);
    expect(await counts(tiers.stack.resources)).toEqual({ objects: 5, messages: 5 });
  });

  it('a client that goes away mid-upload leaves nothing behind and gives its memory back', async () => {
    const web = await tiers.start({ MAX_FILE_BYTES: String(MiB) });
    const { port } = new URL(web.url);
    const client = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/images', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } });
    client.on('error', () => undefined);
    client.write(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="first.jpg"\r\n\r\n`);
    client.write(fileBytes(1, MiB / 2));
    client.write(`\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="second.jpg"\r\n\r\n`);
    client.write(fileBytes(2, 1000));
    // The first file reaches S3 while the request is still open; then the client is gone.
    await eventually(async () => (await tiers.stack.resources.inputBucket.list()).length === 1);
    client.destroy();
    await eventually(async () => (await tiers.stack.resources.inputBucket.list()).length === 0);
    expect(await counts(tiers.stack.resources)).toEqual({ objects: 0, messages: 0 });
    await eventually(async () => (await metric(tiers.tier, 'ics_web_upload_reserved_bytes')) === 0);
    expect(await metric(web, 'ics_web_upload_buffered_bytes')).toBe(0);
  });

  it('refuses to start when UPLOAD_MAX_BYTES_IN_FLIGHT cannot hold one largest file', async () => {
    await expect(startWebApp(tiers.stack, { MAX_FILE_BYTES: String(MiB), UPLOAD_MAX_BYTES_IN_FLIGHT: String(MiB - 1) })).rejects.toThrow(ConfigError);
  });
});
