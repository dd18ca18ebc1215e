import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@tools/testing';
import { classicRequest, runLoad } from './run';

/**
 * A classic endpoint over real HTTP that holds each request until the test lets it go, and
 * answers `<name without extension>:label` as the web tier does.
 */
function holdingClassicServer() {
  const names: string[] = [];
  const held: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const name = /filename="([^"]+)"/.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? '?';
      names.push(name);
      held.push(() => res.end(`${name.replace(/\.[^.]+$/, '')}:tench`));
    });
  });
  return {
    names,
    releaseAll: () => held.splice(0).forEach((answer) => answer()),
    held: () => held.length,
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe('classic load', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'loadgen-'));
    for (const f of ['a.jpg', 'b.jpg', 'c.jpg']) writeFileSync(join(dir, f), Buffer.from([0xff, 0xd8, 0xff]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the requests of later passes <pass>-<file>, so that each answer is told apart', () => {
    const files = ['/x/a.jpg', '/x/b.jpg'];
    expect([0, 1, 2, 3, 4].map((i) => classicRequest(files, i).name)).toEqual(['a.jpg', 'b.jpg', '1-a.jpg', '1-b.jpg', '2-a.jpg']);
    expect(classicRequest(files, 3).path).toBe('/x/b.jpg');
  });

  it('sends each file once without sendUntil', async () => {
    const server = holdingClassicServer();
    const url = await server.listen();
    try {
      const load = runLoad({ url, imagesDir: dir, concurrency: 10, mode: 'classic', scaleInTimeoutMs: 0, progress: false });
      await until('three requests held', () => server.held() === 3);
      server.releaseAll();
      const { report, results } = await load;
      expect(results.map((r) => r.name).sort()).toEqual(['a.jpg', 'b.jpg', 'c.jpg']);
      expect(report.succeeded).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('keeps `concurrency` requests outstanding past the last file until sendUntil aborts, then awaits those sent', async () => {
    const server = holdingClassicServer();
    const url = await server.listen();
    const stop = new AbortController();
    try {
      const load = runLoad({ url, imagesDir: dir, concurrency: 2, mode: 'classic', scaleInTimeoutMs: 0, progress: false, sendUntil: stop.signal });
      // Answered two at a time: the third pass starts, and two requests are always outstanding.
      for (let answered = 0; answered < 6; answered += 2) {
        await until(`two requests held after ${answered} answered`, () => server.held() === 2);
        server.releaseAll();
      }
      await until('the seventh and eighth requests held', () => server.held() === 2);
      stop.abort();
      server.releaseAll();
      const { report, results } = await load;
      // Nothing is sent after the abort; both requests in flight at the abort were answered.
      expect([...server.names].sort()).toEqual(['1-a.jpg', '1-b.jpg', '1-c.jpg', '2-a.jpg', '2-b.jpg', 'a.jpg', 'b.jpg', 'c.jpg']);
      expect(results.map((r) => `${r.name}:${r.label}`).sort()).toEqual(server.names.map((n) => `${n}:tench`).sort());
      expect(report.succeeded).toBe(8);
    } finally {
      server.releaseAll();
      await server.close();
    }
  });
});
