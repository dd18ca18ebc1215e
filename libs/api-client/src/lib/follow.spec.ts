import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ApiError, parseRetryAfter } from './errors';
import { followSse } from './follow';
import type { SseEvent } from './sse';

/** A loopback server answering each request with the next scripted handler; records the requests' Last-Event-ID. */
async function scripted(handlers: ((req: IncomingMessage, res: ServerResponse) => void)[]) {
  const seen: (string | undefined)[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    seen.push(req.headers['last-event-id'] as string | undefined);
    const handle = handlers[Math.min(n++, handlers.length - 1)];
    handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  return { url, seen, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

const sse = (res: ServerResponse, body: string) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(body);
};

describe('followSse', () => {
  it('retries a busy server, reconnects after an early end with Last-Event-ID, and stops at done', async () => {
    const server = await scripted([
      (_req, res) => res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/json' }).end('{"statusCode":503,"error":"Service Unavailable","message":"busy"}'),
      (_req, res) => sse(res, 'retry: 5\n\nevent: result\nid: log.1\ndata: {"n":1}\n\n'),
      (_req, res) => sse(res, 'event: result\nid: log.2\ndata: {"n":2}\n\nevent: done\ndata: {}\n\n'),
    ]);
    try {
      const got: SseEvent[] = [];
      for await (const ev of followSse(server.url, { retryMs: 5 })) got.push(ev);
      expect(got.map((e) => [e.event, e.data])).toEqual([
        ['result', '{"n":1}'],
        ['result', '{"n":2}'],
        ['done', '{}'],
      ]);
      expect(server.seen).toEqual([undefined, undefined, 'log.1']);
    } finally {
      await server.close();
    }
  });

  it('throws the server answer for a 4xx at once, and gives up after maxFailures transient ones', async () => {
    const notFound = await scripted([(_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"statusCode":404,"error":"Not Found","message":"no batch b"}')]);
    try {
      const err = await followSse(notFound.url).next().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ status: 404, error: 'Not Found', message: 'events: 404 no batch b', transient: false });
      expect(notFound.seen).toHaveLength(1);
    } finally {
      await notFound.close();
    }
    const down = await scripted([(_req, res) => res.writeHead(502).end('bad gateway')]);
    try {
      await expect(followSse(down.url, { retryMs: 1, maxFailures: 3 }).next()).rejects.toMatchObject({ status: 502, transient: true });
      expect(down.seen).toHaveLength(3);
    } finally {
      await down.close();
    }
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-12-02T07:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 02 Dec 2026 07:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
