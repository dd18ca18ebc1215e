import { once } from 'node:events';
import { Agent, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy';

export interface S3Brownout {
  /** http://host:port: the edge address the apps are given. */
  endpoint: string;
  port: number;
  /** From now on every S3 request is answered 503 SlowDown (SQS and SNS pass). */
  begin(): void;
  end(): void;
  readonly active: boolean;
  /** S3 requests answered SlowDown so far. */
  readonly refused: number;
  stop(): Promise<void>;
}

/** The service a SigV4-signed request is for, from its credential scope (header or presigned query). */
export function signedService(req: Pick<IncomingMessage, 'headers' | 'url'>): string | undefined {
  const auth = req.headers['authorization'];
  const scope = typeof auth === 'string' ? /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth) : null;
  if (scope) return scope[1];
  const query = new URL(req.url ?? '/', 'http://edge').searchParams.get('X-Amz-Credential');
  return query?.split('/')[3];
}

const SLOW_DOWN = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

/**
 * An HTTP proxy in front of the local edge that can brown S3 out: while
 * active, every S3 request gets 503 SlowDown (what S3 answers under
 * overload), SQS and SNS still pass. The answer comes after the whole request
 * body has been read, as S3 answers, so a client sees SlowDown and not a
 * broken pipe. Forwarding is http-proxy's.
 */
export async function startS3Brownout(target: string, listenPort = 0): Promise<S3Brownout> {
  let active = false;
  let refused = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const proxy = createProxyServer({ target, agent });
  proxy.on('error', () => undefined);
  const server: Server = createServer((req, res) => {
    if (active && signedService(req) === 's3') {
      refused += 1;
      req.resume();
      req.once('end', () => {
        res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(SLOW_DOWN) });
        res.end(SLOW_DOWN);
      });
      return;
    }
    proxy.web(req, res, {}, () => {
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(502);
        res.end();
      }
    });
  });
  // SQS long polls wait up to 20 s: no proxy-side request timeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  // once() rejects on the server's 'error' (the port taken, say).
  server.listen(listenPort, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    begin: () => void (active = true),
    end: () => void (active = false),
    get active() {
      return active;
    },
    get refused() {
      return refused;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      proxy.close();
      agent.destroy();
    },
  };
}
