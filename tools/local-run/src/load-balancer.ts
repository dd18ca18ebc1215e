import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { createProxyServer } from 'http-proxy';

export interface LoadBalancerOptions {
  /** The web tiers, e.g. `http://127.0.0.1:41234`, in the order they are numbered. */
  targets: string[];
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** How often a target marked down is asked again whether it answers (default 500 ms). */
  probeEveryMs?: number;
  /** Open client connections at most (default 4096); more are refused, as a saturated ALB does. */
  maxConnections?: number;
}

export interface TargetStats {
  /** 1-based, as `npm start` prints it. */
  tier: number;
  url: string;
  /** Requests sent to this target. */
  requests: number;
  /** Of those, the ones whose connection to the target failed or was cut. */
  failed: number;
  healthy: boolean;
}

export interface LoadBalancer {
  url: string;
  port: number;
  /** Per target: what it was sent, what failed, whether it is in rotation now. */
  stats(): TargetStats[];
  stop(): Promise<void>;
}

/** Bodies up to this size are kept until their tier answers, so that one refused by a dead tier goes on to the next. */
const REPLAYABLE_BYTES = 1024 * 1024;

/**
 * A request body as it streams to a tier, kept (up to a bound) until the
 * tier answers: a connection the tier refused received none of it, so the
 * same bytes can go to the next tier.
 */
class ReplayableBody {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private dropped = false;

  constructor(private readonly req: IncomingMessage) {
    req.on('data', (c: Buffer) => {
      if (this.dropped) return;
      this.chunks.push(c);
      this.size += c.length;
      if (this.size > REPLAYABLE_BYTES) this.release();
    });
    req.on('end', () => (this.ended = true));
  }

  get replayable(): boolean {
    return !this.dropped;
  }

  /** The whole body again: what was read so far, then the rest as it comes. */
  replay(): Readable {
    const out = new PassThrough();
    for (const c of this.chunks) out.write(c);
    if (this.ended) out.end();
    else {
      this.req.on('data', (c: Buffer) => out.write(c));
      this.req.once('end', () => out.end());
      this.req.resume();
    }
    return out;
  }

  /** The tier answered (or the body is too big to keep): nothing to replay any more. */
  release(): void {
    this.dropped = true;
    this.chunks = [];
  }
}

/** Errors that mean the target process is not there (killed, restarting): take it out of rotation. */
const TARGET_GONE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Round-robin over the targets in rotation; when none is (all failed their
 * last check) over all of them, as an ALB fails open rather than answer
 * nothing. One job: which target is next.
 */
export class RoundRobin {
  private next = 0;
  private readonly down = new Set<number>();

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`a load balancer needs at least one target (got ${size})`);
  }

  /** Index of the target for the next request. */
  pick(): number {
    for (let i = 0; i < this.size; i++) {
      const candidate = (this.next + i) % this.size;
      if (!this.down.has(candidate)) {
        this.next = candidate + 1;
        return candidate;
      }
    }
    const any = this.next % this.size;
    this.next = any + 1;
    return any;
  }

  markDown(index: number): void {
    this.down.add(index);
  }

  markUp(index: number): void {
    this.down.delete(index);
  }

  isUp(index: number): boolean {
    return !this.down.has(index);
  }

  downTargets(): number[] {
    return [...this.down];
  }
}

/**
 * The local stand-in for the ALB in front of the web tiers: every request
 * (uploads, held classic requests, SSE streams) goes to the next tier in
 * turn and is streamed both ways by http-proxy. A tier whose connection fails
 * leaves the rotation until it answers HTTP again (the supervisor restarts it
 * on the same port). A request its tier refused to connect goes on to the
 * next tier (its body replayed, up to a bound); anything else gets 502, or
 * is cut if its answer had begun, as a client of a real load balancer sees it.
 */
export async function startLoadBalancer(o: LoadBalancerOptions): Promise<LoadBalancer> {
  const targets = o.targets.map((url, i) => ({ tier: i + 1, url, requests: 0, failed: 0 }));
  const rotation = new RoundRobin(targets.length);
  const bodies = new WeakMap<IncomingMessage, ReplayableBody>();
  // Connections to the tiers are reused; a killed tier's sockets fail and take it out of rotation.
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  // xfwd: the tiers see the client's address in X-Forwarded-For (they trust one proxy), as behind the ALB.
  const proxy = createProxyServer({ agent, xfwd: true, ws: false });
  // Errors are handled per request (the callback of proxy.web); this keeps an unhandled one from throwing.
  proxy.on('error', () => undefined);
  // A client that goes away (an SSE reader, a classic request given up) releases its tier's request too.
  proxy.on('proxyReq', (proxyReq, _req, res) => {
    res.once('close', () => {
      if (!res.writableFinished) proxyReq.destroy();
    });
  });
  // A tier that dies mid-answer (an event stream, say) cuts the client's connection, so the client
  // sees the end and reconnects instead of waiting on a stream nobody writes to any more.
  proxy.on('proxyRes', (proxyRes, req, res) => {
    bodies.get(req)?.release();
    proxyRes.once('close', () => {
      if (!proxyRes.complete) res.destroy();
    });
  });

  const forward = (req: IncomingMessage, res: ServerResponse, tried: number, body?: Readable) => {
    const index = rotation.pick();
    const target = targets[index];
    target.requests += 1;
    proxy.web(req, res, { target: target.url, buffer: body }, (err: NodeJS.ErrnoException) => {
      target.failed += 1;
      if (TARGET_GONE.has(err.code ?? '')) rotation.markDown(index);
      // Refused: no byte reached that tier, so the request goes to the next one, body and all.
      const kept = bodies.get(req);
      if (err.code === 'ECONNREFUSED' && !res.headersSent && tried + 1 < targets.length && kept?.replayable) {
        forward(req, res, tried + 1, kept.replay());
        return;
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = JSON.stringify({ statusCode: 502, error: 'Bad Gateway', message: `web tier ${target.tier} did not answer (${err.code ?? err.message})` });
      res.writeHead(502, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
    });
  };

  const server: Server = createServer((req, res) => {
    bodies.set(req, new ReplayableBody(req));
    forward(req, res, 0);
  });
  server.maxConnections = o.maxConnections ?? 4096;
  // Held classic requests and event streams last as long as the tier holds them: no proxy-side timeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  // once() rejects on the server's 'error' (the port taken, say).
  server.listen(o.port, o.host ?? '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  const probes = setInterval(() => {
    for (const index of rotation.downTargets()) void answersHttp(targets[index].url).then((up) => up && rotation.markUp(index));
  }, o.probeEveryMs ?? 500);
  probes.unref();

  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    port,
    stats: () => targets.map((t, i) => ({ ...t, healthy: rotation.isUp(i) })),
    async stop() {
      clearInterval(probes);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      proxy.close();
      agent.destroy();
    },
  };
}

/** Whether a web tier answers `GET /health` with anything at all (its process is up and serving). */
function answersHttp(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/health`, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
