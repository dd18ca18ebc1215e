import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface FaultProxy {
  /** http://host:port of the proxy. */
  endpoint: string;
  port: number;
  /** Makes the target unreachable: open connections are reset, new ones refused (reset at once). */
  cut(): void;
  /** Forwards again. */
  restore(): void;
  readonly isCut: boolean;
  stop(): Promise<void>;
}

/**
 * A TCP proxy on loopback in front of the local AWS edge that can be cut and
 * restored: the network failure a real outage gives (connection reset), for
 * tests of back-off and recovery, and for the chaos run's "edge unreachable".
 */
export async function startFaultProxy(target: { port: number; host?: string }, listenPort = 0): Promise<FaultProxy> {
  const host = target.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, host);
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  // once() rejects on the server's 'error' (the port taken, say).
  server.listen(listenPort, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get isCut() {
      return cut;
    },
    cut() {
      cut = true;
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    restore() {
      cut = false;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
