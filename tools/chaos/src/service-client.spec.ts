import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceClient } from './service-client';

/** A stand-in web tier that answers each request as the test scripts it, and records what it was sent. */
/** A scripted answer: a status, a body and headers, or `cut`: the connection closed with no answer (the tier died). */
type Scripted = { status: number; body: unknown; headers?: Record<string, string> } | { cut: true };

async function scriptedTier(answers: Scripted[]): Promise<{ url: string; seen: { url: string; key?: string; files: string[] }[]; server: Server }> {
  const seen: { url: string; key?: string; files: string[] }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', key: req.headers['idempotency-key'] as string | undefined, files: [...body.matchAll(/filename="([^"]+)"/g)].map((m) => m[1]) });
      const a = answers.shift() ?? { status: 500, body: { statusCode: 500, error: 'Internal Server Error', message: 'unscripted' } };
      if ('cut' in a) {
        req.socket.destroy();
        return;
      }
      res.writeHead(a.status, { 'content-type': typeof a.body === 'string' ? 'text/plain' : 'application/json', ...a.headers });
      res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const dir = mkdtempSync(join(tmpdir(), 'service-client-'));
const file = (name: string) => {
  writeFileSync(join(dir, name), `bytes of ${name}`);
  return join(dir, name);
};
const unavailable = { status: 503, body: { statusCode: 503, error: 'Service Unavailable', message: 'storage or queue unavailable' } };

describe('the chaos client', () => {
  const servers: Server[] = [];
  afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

  it('sends an upload the service could not take again with the same Idempotency-Key, and the files a partial answer failed in a new upload', async () => {
    const tier = await scriptedTier([
      unavailable,
      { status: 202, body: { batchId: 'b1', images: [{ imageId: 'i-a', fileName: 'a.jpg' }], failed: [{ fileName: 'b.jpg', reason: 's3.PutObject: SlowDown' }] } },
      { status: 202, body: { batchId: 'b2', images: [{ imageId: 'i-b', fileName: 'b.jpg' }] } },
    ]);
    servers.push(tier.server);
    const client = new ServiceClient(tier.url, 0);
    const answers = await client.uploadAll([file('a.jpg'), file('b.jpg')], Date.now() + 10_000);
    expect(answers.map((a) => [a.batchId, a.images.map((i) => i.imageId)])).toEqual([
      ['b1', ['i-a']],
      ['b2', ['i-b']],
    ]);
    expect(tier.seen.map((s) => s.files)).toEqual([['a.jpg', 'b.jpg'], ['a.jpg', 'b.jpg'], ['b.jpg']]);
    const [first, retry, rest] = tier.seen.map((s) => s.key);
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(retry).toBe(first);
    expect(rest).not.toBe(first);
    expect(client.uploadRetries).toBe(2);
  });

  it('sends a classic request again while the service answers it could not take it, and not after an answer', async () => {
    const tier = await scriptedTier([unavailable, { status: 502, body: { statusCode: 502, error: 'Bad Gateway', message: 'web tier 2 did not answer' } }, { status: 200, body: 'c:tabby' }]);
    servers.push(tier.server);
    const client = new ServiceClient(tier.url, 0);
    const outcome = await client.classic(file('c.jpg'), 10_000);
    expect(outcome).toMatchObject({ kind: 'answered', label: 'tabby' });
    expect(tier.seen.map((s) => s.url)).toEqual(['/', '/', '/']);
    expect(client.classicRetries).toBe(2);
  });

  it('sends a classic request cut after the tier stored its image again with the same Idempotency-Key, and learns the image it got', async () => {
    // The tier that took it dies: the balancer answers 502 (naming no image), then the connection of the next try is cut.
    const tier = await scriptedTier([
      { status: 502, body: { statusCode: 502, error: 'Bad Gateway', message: 'web tier 1 did not answer' } },
      { cut: true },
      { status: 200, body: 'e:tabby', headers: { 'Image-Id': 'image-of-e' } },
    ]);
    servers.push(tier.server);
    const client = new ServiceClient(tier.url, 0);
    expect(await client.classic(file('e.jpg'), 10_000)).toMatchObject({ kind: 'answered', label: 'tabby', imageId: 'image-of-e' });
    const keys = tier.seen.map((s) => s.key);
    expect(keys).toHaveLength(3);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
    expect(tier.seen.map((s) => s.files)).toEqual([['e.jpg'], ['e.jpg'], ['e.jpg']]);
    expect(client.classicRetries).toBe(2);
  });

  it("takes a 502 naming an image as the service's answer (classification failed), and gives each classic file its own key", async () => {
    const failed = { status: 502, body: { statusCode: 502, error: 'Bad Gateway', message: 'f.jpg: classification failed after 3 attempt(s)' }, headers: { 'Image-Id': 'image-of-f' } };
    const tier = await scriptedTier([failed, { status: 200, body: 'g:velvet', headers: { 'Image-Id': 'image-of-g' } }]);
    servers.push(tier.server);
    const client = new ServiceClient(tier.url, 0);
    expect(await client.classic(file('f.jpg'), 10_000)).toMatchObject({ kind: 'refused', status: 502, imageId: 'image-of-f' });
    expect(await client.classic(file('g.jpg'), 10_000)).toMatchObject({ kind: 'answered', imageId: 'image-of-g' });
    expect(client.classicRetries).toBe(0);
    expect(tier.seen[0].key).not.toBe(tier.seen[1].key);
  });

  it('takes a classic refusal about the image itself as the answer', async () => {
    const tier = await scriptedTier([{ status: 422, body: { statusCode: 422, error: 'Unprocessable Entity', message: 'not an image' } }]);
    servers.push(tier.server);
    const client = new ServiceClient(tier.url, 0);
    expect(await client.classic(file('d.jpg'), 10_000)).toMatchObject({ kind: 'refused', status: 422 });
    expect(client.classicRetries).toBe(0);
  });
});
