import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the embedded S3/SQS edge that a chaos run can cut:
 * while cut it stops listening and resets every open connection, so each
 * app sees what a network outage looks like (connection refused and reset),
 * then it listens again on the same port and traffic flows as before.
 */
export class EdgeProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private restoreTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly target: { host: string; port: number },
    private port: number,
  ) {}

  static async start(target: URL, port = 0): Promise<EdgeProxy> {
    const proxy = new EdgeProxy({ host: target.hostname, port: Number(target.port) }, port);
    await proxy.listen();
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.server === undefined;
  }

  /** Unreachable for `ms`, then reachable again (resolves when it is). */
  async cutFor(ms: number): Promise<void> {
    await this.cut();
    await new Promise<void>((res) => {
      this.restoreTimer = setTimeout(res, ms);
    });
    this.restoreTimer = undefined;
    await this.listen();
  }

  async stop(): Promise<void> {
    clearTimeout(this.restoreTimer);
    await this.cut();
  }

  private async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((res) => server.close(() => res()));
  }

  private listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        // A reset on one side ends the other; the apps' SDK retries.
        s.on('error', () => (s === client ? upstream : client).destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    return new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', rej);
        const address = server.address();
        // The first listen picks a free port; a restore takes the same one again.
        if (address && typeof address === 'object') this.port = address.port;
        this.server = server;
        res();
      });
    });
  }
}
