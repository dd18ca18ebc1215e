import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { until } from '@tools/testing/eventually';
import { RoundRobin, startLoadBalancer, type LoadBalancer } from './load-balancer';

/** One stand-in web tier: answers its name, the digest of an upload, or an event stream the test releases. */
interface Tier {
  name: string;
  server: Server;
  url: string;
  /** Event streams it holds open. */
  streams: ServerResponse[];
  release: () => void;
}

async function startTier(name: string, port = 0): Promise<Tier> {
  let release = () => undefined as void;
  const released = new Promise<void>((r) => (release = r));
  const tier = { name, streams: [] as ServerResponse[], release } as Tier;
  tier.server = createServer((req, res) => {
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`id: 1\ndata: first from ${name}\n\n`);
      tier.streams.push(res);
      void released.then(() => res.end(`id: 2\ndata: second from ${name}\n\n`));
      return;
    }
    if (req.method === 'POST') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (b: Buffer) => {
        hash.update(b);
        bytes += b.length;
      });
      req.on('end', () => res.end(JSON.stringify({ tier: name, bytes, sha256: hash.digest('hex') })));
      return;
    }
    res.end(name);
  });
  await new Promise<void>((r) => tier.server.listen(port, '127.0.0.1', () => r()));
  tier.url = `http://127.0.0.1:${(tier.server.address() as AddressInfo).port}`;
  return tier;
}

async function stopTier(t: Tier): Promise<void> {
  t.release();
  t.server.closeAllConnections();
  await new Promise<void>((r) => t.server.close(() => r()));
}

/** One request on a connection of its own (no keep-alive), as the tier benchmark sends them. */
function send(url: string, o: { method?: string; body?: Buffer } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Opens an event stream; resolves once its first chunk has arrived. */
function openStream(url: string): Promise<{ res: IncomingMessage; text: () => string; ended: Promise<'end' | 'cut'> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let text = '';
      const ended = new Promise<'end' | 'cut'>((r) => {
        res.on('end', () => r('end'));
        res.on('aborted', () => r('cut'));
        res.on('error', () => r('cut'));
      });
      res.setEncoding('utf8');
      res.once('data', (c: string) => {
        text += c;
        res.on('data', (more: string) => (text += more));
        resolve({ res, text: () => text, ended });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('RoundRobin', () => {
  it('takes each target in turn, skips one that is down, and takes all in turn again when every one is down', () => {
    const rr = new RoundRobin(3);
    expect([rr.pick(), rr.pick(), rr.pick(), rr.pick()]).toEqual([0, 1, 2, 0]);
    rr.markDown(2);
    expect([rr.pick(), rr.pick(), rr.pick()]).toEqual([1, 0, 1]);
    rr.markDown(0);
    rr.markDown(1);
    expect([rr.pick(), rr.pick(), rr.pick()]).toEqual([2, 0, 1]);
    rr.markUp(1);
    expect([rr.pick(), rr.pick()]).toEqual([1, 1]);
  });

  it('refuses to balance over nothing', () => {
    expect(() => new RoundRobin(0)).toThrow(RangeError);
  });
});

describe('the local load balancer in front of the web tiers', () => {
  let tiers: Tier[] = [];
  let lb: LoadBalancer;

  beforeEach(async () => {
    tiers = await Promise.all(['one', 'two', 'three'].map((n) => startTier(n)));
    lb = await startLoadBalancer({ targets: tiers.map((t) => t.url), port: 0, probeEveryMs: 20 });
  });

  afterEach(async () => {
    await lb?.stop();
    await Promise.all(tiers.map((t) => stopTier(t).catch(() => undefined)));
  });

  it('sends requests, each on a new connection, to the tiers in turn and counts them per tier', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await send(`${lb.url}/`)).body);
    expect(seen).toEqual(['one', 'two', 'three', 'one', 'two', 'three']);
    expect(lb.stats().map(({ tier, requests, failed, healthy }) => ({ tier, requests, failed, healthy }))).toEqual([
      { tier: 1, requests: 2, failed: 0, healthy: true },
      { tier: 2, requests: 2, failed: 0, healthy: true },
      { tier: 3, requests: 2, failed: 0, healthy: true },
    ]);
  });

  it('streams an upload to the tier byte for byte', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const res = await send(`${lb.url}/api/images`, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ tier: 'one', bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  });

  it('streams server-sent events as the tier writes them, not when the stream ends', async () => {
    const stream = await openStream(`${lb.url}/events`);
    // The tier has not finished the stream: the first event got through on its own.
    expect(stream.text()).toBe('id: 1\ndata: first from one\n\n');
    tiers[0].release();
    expect(await stream.ended).toBe('end');
    expect(stream.text()).toBe('id: 1\ndata: first from one\n\nid: 2\ndata: second from one\n\n');
  });

  it('cuts the client of a stream whose tier dies, so that it reconnects', async () => {
    const stream = await openStream(`${lb.url}/events`);
    for (const s of tiers[0].streams) s.socket?.destroy();
    expect(await stream.ended).toBe('cut');
  });

  it('takes a tier that is gone out of rotation (a GET goes on to the next one) and back in once it answers again', async () => {
    const port = Number(new URL(tiers[1].url).port);
    await stopTier(tiers[1]);
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) seen.push((await send(`${lb.url}/`)).body);
    expect(seen).toEqual(['one', 'three', 'one', 'three', 'one']);
    expect(lb.stats()[1]).toMatchObject({ tier: 2, requests: 1, failed: 1, healthy: false });

    tiers[1] = await startTier('two again', port);
    await until('tier 2 back in rotation', () => lb.stats()[1].healthy, 5000, 10);
    const after: string[] = [];
    for (let i = 0; i < 3; i++) after.push((await send(`${lb.url}/`)).body);
    expect(after.sort()).toEqual(['one', 'three', 'two again']);
  });

  it('sends an upload its tier refused on to the next tier, byte for byte (no byte reached the dead one)', async () => {
    await stopTier(tiers[0]);
    const body = randomBytes(300 * 1024);
    const res = await send(`${lb.url}/api/images`, { method: 'POST', body });
    expect(JSON.parse(res.body)).toEqual({ tier: 'two', bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    expect(lb.stats()[0]).toMatchObject({ requests: 1, failed: 1, healthy: false });
  });

  it('answers 502 with a JSON error when no tier takes the request', async () => {
    await Promise.all(tiers.map((t) => stopTier(t)));
    const res = await send(`${lb.url}/api/images`, { method: 'POST', body: Buffer.from('x') });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toEqual({ statusCode: 502, error: 'Bad Gateway', message: 'web tier 3 did not answer (ECONNREFUSED)' });
  });
});
