/**
 * A loopback stand-in for the web tier's jobs API (batches, images,
 * close, events, results, delete) speaking the real HTTP contract, for the
 * CLI's tests of what the in-process web tier cannot show on demand: a
 * connection cut after the server stored a chunk, a stream that ends early.
 * Images are "classified" when their batch closes, with a label made from
 * their bytes, so a test can check each row against its file.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import busboy from 'busboy';
import { stringify } from 'csv-stringify/sync';
import type { ImageResult } from '@app/api-client';

export function labelOf(bytes: Uint8Array): string {
  return `label-${createHash('sha256').update(bytes).digest('hex').slice(0, 10)}`;
}

interface DoubleBatch {
  batchId: string;
  label?: string;
  createdAt: string;
  closed: boolean;
  images: ImageResult[];
  listeners: Set<() => void>;
}

export interface JobsApiDouble {
  url: string;
  /** Images stored, by file name (an upload counted once per image the server kept). */
  stored: string[];
  /** Requests answered from an idempotency record instead of storing again. */
  replays: number;
  batches: Map<string, DoubleBatch>;
  close(): Promise<void>;
}

export interface DoubleOptions {
  /** Called for each upload request after it stored its images: 'drop' cuts the connection before the answer. */
  afterStore?: (n: number) => 'drop' | void;
  /** Answer this many upload requests with 503 + Retry-After before handling them. */
  busyUploads?: number;
  /** A stream ends after this many result events, without `done` (the client must reconnect). */
  eventsPerStream?: number;
  /** Files that end in an error result instead of a label. */
  fails?: (fileName: string) => boolean;
}

type Handler = (req: IncomingMessage, res: ServerResponse, m: RegExpMatchArray) => Promise<void> | void;

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function fail(res: ServerResponse, status: number, error: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, { statusCode: status, error, message }, headers);
}

function readFiles(req: IncomingMessage): Promise<{ name: string; bytes: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const files: { name: string; bytes: Buffer }[] = [];
    const bb = busboy({ headers: req.headers });
    bb.on('file', (_field, stream, info) => {
      const parts: Buffer[] = [];
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('end', () => files.push({ name: info.filename ?? 'image', bytes: Buffer.concat(parts) }));
    });
    bb.on('close', () => resolve(files));
    bb.on('error', reject);
    req.pipe(bb);
  });
}

export async function startJobsApiDouble(options: DoubleOptions = {}): Promise<JobsApiDouble> {
  const batches = new Map<string, DoubleBatch>();
  const idempotency = new Map<string, { hash: string; body: unknown }>();
  const stored: string[] = [];
  let busy = options.busyUploads ?? 0;
  let uploads = 0;
  const state = { replays: 0 };
  const summary = (b: DoubleBatch) => {
    const done = b.images.filter((i) => i.status === 'done').length;
    const failed = b.images.filter((i) => i.status === 'error').length;
    const queued = b.images.length - done - failed;
    return { batchId: b.batchId, label: b.label, createdAt: b.createdAt, closed: b.closed, total: b.images.length, done, failed, queued, finished: b.closed && queued === 0 };
  };
  const batchOf = (res: ServerResponse, id: string) => {
    const b = batches.get(id);
    if (!b) fail(res, 404, 'Not Found', `no batch ${id}`);
    return b;
  };

  const routes: [string, RegExp, Handler][] = [
    ['POST', /^\/api\/batches$/, (_req, res) => {
      const b: DoubleBatch = { batchId: randomUUID(), label: 'ics', createdAt: new Date().toISOString(), closed: false, images: [], listeners: new Set() };
      batches.set(b.batchId, b);
      send(res, 201, summary(b), { location: `/api/batches/${b.batchId}` });
    }],
    ['POST', /^\/api\/batches\/([^/]+)\/images$/, async (req, res, m) => {
      if (busy > 0) {
        busy--;
        req.resume();
        return fail(res, 503, 'Service Unavailable', 'busy', { 'retry-after': '0' });
      }
      const files = await readFiles(req);
      const b = batchOf(res, m[1]);
      if (!b) return;
      if (b.closed) return fail(res, 409, 'Conflict', 'batch is closed');
      const key = req.headers['idempotency-key'] as string | undefined;
      const hash = createHash('sha256').update(m[1]);
      for (const f of files) hash.update(f.name).update(f.bytes);
      const digest = hash.digest('hex');
      const seen = key ? idempotency.get(key) : undefined;
      if (seen) {
        if (seen.hash !== digest) return fail(res, 422, 'Unprocessable Entity', 'Idempotency-Key reused with another body');
        state.replays++;
        return send(res, 202, seen.body);
      }
      const images = files.map((f) => {
        const image: ImageResult = { imageId: randomUUID(), batchId: b.batchId, fileName: f.name, status: 'queued' };
        b.images.push(image);
        stored.push(f.name);
        // The double classifies at close; remember the answer now.
        Object.defineProperty(image, 'pending', { value: options.fails?.(f.name) ? undefined : labelOf(f.bytes), enumerable: false });
        return image;
      });
      const body = { batchId: b.batchId, images: images.map((i) => ({ imageId: i.imageId, fileName: i.fileName, status: 'queued', url: 'http://x/' })) };
      if (key) idempotency.set(key, { hash: digest, body });
      if (options.afterStore?.(++uploads) === 'drop') return void res.destroy();
      send(res, 202, body);
    }],
    ['POST', /^\/api\/batches\/([^/]+)\/close$/, (_req, res, m) => {
      const b = batchOf(res, m[1]);
      if (!b) return;
      if (!b.closed) {
        b.closed = true;
        for (const i of b.images) {
          const label = (i as ImageResult & { pending?: string }).pending;
          Object.assign(i, label ? { status: 'done', label, confidence: 0.5, attempts: 1 } : { status: 'error', attempts: 1, error: { reason: 'cannot decode', permanent: true } });
        }
        for (const l of b.listeners) l();
      }
      send(res, 200, { ...summary(b), images: b.images });
    }],
    ['GET', /^\/api\/batches\/([^/]+)\/events$/, (req, res, m) => {
      const b = batchOf(res, m[1]);
      if (!b) return;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 20\n\n');
      let cursor = Number(req.headers['last-event-id'] ?? 0) || 0;
      let sent = 0;
      const pump = () => {
        const answered = b.images.filter((i) => i.status !== 'queued');
        while (cursor < answered.length) {
          if (options.eventsPerStream !== undefined && sent >= options.eventsPerStream) return void res.end();
          res.write(`event: result\nid: ${cursor + 1}\ndata: ${JSON.stringify(answered[cursor++])}\n\n`);
          sent++;
        }
        if (b.closed && answered.length === b.images.length) {
          const { total, done, failed } = summary(b);
          res.end(`event: done\ndata: ${JSON.stringify({ batchId: b.batchId, total, done, failed })}\n\n`);
        }
      };
      b.listeners.add(pump);
      res.on('close', () => b.listeners.delete(pump));
      pump();
    }],
    ['GET', /^\/api\/batches\/([^/]+)\/results\?format=(csv|json)$/, (_req, res, m) => {
      const b = batchOf(res, m[1]);
      if (!b) return;
      if (m[2] === 'json') return send(res, 200, b.images);
      const rows = b.images.map((i) => [i.imageId, i.fileName, i.status, i.label ?? '', i.confidence ?? '', '', i.attempts ?? '', i.error?.reason ?? '']);
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.end(stringify([['imageId', 'fileName', 'status', 'label', 'confidence', 'top5', 'attempts', 'error'], ...rows]));
    }],
    ['GET', /^\/api\/batches(?:\?.*)?$/, (_req, res) => send(res, 200, { batches: [...batches.values()].reverse().map(summary) })],
    ['DELETE', /^\/api\/batches\/([^/]+)$/, (_req, res, m) => {
      if (!batchOf(res, m[1])) return;
      batches.delete(m[1]);
      res.writeHead(204).end();
    }],
  ];

  const server = createServer((req, res) => {
    for (const [method, pattern, handle] of routes) {
      const m = method === req.method ? (req.url ?? '').match(pattern) : null;
      if (m) {
        Promise.resolve(handle(req, res, m)).catch((err: Error) => fail(res, 500, 'Internal Server Error', err.message));
        return;
      }
    }
    req.resume();
    fail(res, 404, 'Not Found', `no route ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stored,
    get replays() {
      return state.replays;
    },
    batches,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
