import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InterruptionWatch, NOTICE_POLL_MS, type InterruptionNotice } from './interruption-watch';

/** A fake IMDSv2 on loopback: tokens on PUT, `spot/instance-action` 404 until `notice` is set. */
class FakeImds {
  notice?: { action: string; time: string };
  /** Token requests still to refuse with 503 (a service that does not answer in time). */
  failTokens = 0;
  /** Tokens it still accepts (a "restart" clears them). */
  readonly tokens = new Set<string>();
  readonly requests: string[] = [];
  private server!: Server;
  private waiters: (() => void)[] = [];
  endpoint = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.answer(req, (status, body) => res.writeHead(status).end(body)));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once `n` requests in all have been answered. */
  async served(n: number): Promise<void> {
    while (this.requests.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }

  private answer(req: IncomingMessage, send: (status: number, body: string) => void): void {
    this.requests.push(`${req.method} ${req.url}`);
    const reply = (status: number, body: string) => {
      send(status, body);
      for (const w of this.waiters.splice(0)) w();
    };
    if (req.url === '/latest/api/token') {
      if (req.method !== 'PUT' || !req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return reply(400, 'Bad Request');
      if (this.failTokens > 0) {
        this.failTokens--;
        return reply(503, 'Service Unavailable');
      }
      const token = `t${this.requests.length}`;
      this.tokens.add(token);
      return reply(200, token);
    }
    if (!this.tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) return reply(401, 'Unauthorized');
    if (req.url === '/latest/meta-data/spot/instance-action' && this.notice) return reply(200, JSON.stringify(this.notice));
    reply(404, 'Not Found');
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/**
 * The request timeout runs on the real clock (AbortSignal.timeout), not Jest's: on a loaded machine a
 * loopback answer took longer than the watch's default second. Only the test about timeouts uses a short one.
 */
const PATIENT_MS = 10_000;

const quietLog = () => {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_f: object, msg: string) => void lines.push({ level, msg });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
};

/** Lets the event loop turn (real I/O with fake timers) until `cond` holds. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error(`never happened: ${what}`);
}

describe('InterruptionWatch', () => {
  let imds: FakeImds;
  /** The next check is scheduled: the one before has finished. */
  const waiting = () => jest.getTimerCount() === 1;
  /** Moves the clock on, then waits until `requests` were served and the watch has acted on them. */
  const step = async (ms: number, requests: number, done: () => boolean = waiting) => {
    await jest.advanceTimersByTimeAsync(ms);
    await until(`${requests} requests`, () => imds.requests.length >= requests && done());
  };

  beforeEach(async () => {
    imds = new FakeImds();
    await imds.start();
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  });

  afterEach(async () => {
    jest.useRealTimers();
    await imds.close();
  });

  it('polls spot/instance-action every NOTICE_POLL_MS with one IMDSv2 token, and hands the notice on once, then stops', async () => {
    const notices: InterruptionNotice[] = [];
    const { log, lines } = quietLog();
    const watch = new InterruptionWatch({ endpoint: imds.endpoint, onNotice: (n) => void notices.push(n), log, requestTimeoutMs: PATIENT_MS });
    expect(await watch.start()).toBe(true);
    await step(0, 2); // the token, then the first check at once
    await jest.advanceTimersByTimeAsync(NOTICE_POLL_MS - 1);
    expect(imds.requests).toEqual(['PUT /latest/api/token', 'GET /latest/meta-data/spot/instance-action']);
    await step(1, 3);
    expect(notices).toEqual([]);

    imds.notice = { action: 'terminate', time: '2026-12-02T07:00:00Z' };
    await step(NOTICE_POLL_MS, 4, () => notices.length > 0);
    expect(notices).toEqual([{ action: 'terminate', time: '2026-12-02T07:00:00Z', seenAt: expect.any(Date) }]);
    expect(imds.requests.filter((r) => r.startsWith('PUT'))).toHaveLength(1);
    expect(lines).toContainEqual({ level: 'warn', msg: 'Spot interruption notice' });

    // Told once: no more polling.
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(imds.requests).toHaveLength(4);
    expect(notices).toHaveLength(1);
  });

  it('takes a new token when the old one is refused (expired, or the service restarted)', async () => {
    const notices: InterruptionNotice[] = [];
    const watch = new InterruptionWatch({ endpoint: imds.endpoint, onNotice: (n) => void notices.push(n), log: quietLog().log, requestTimeoutMs: PATIENT_MS });
    await watch.start();
    await step(0, 2);
    imds.tokens.clear();
    imds.notice = { action: 'terminate', time: '2026-12-02T07:00:00Z' };
    await step(NOTICE_POLL_MS, 5, () => notices.length > 0);
    expect(imds.requests.slice(2)).toEqual(['GET /latest/meta-data/spot/instance-action', 'PUT /latest/api/token', 'GET /latest/meta-data/spot/instance-action']);
    expect(notices.map((n) => n.action)).toEqual(['terminate']);
  });

  it('keeps polling through a failing check, warning once', async () => {
    const { log, lines } = quietLog();
    const onNotice = jest.fn();
    const watch = new InterruptionWatch({ endpoint: imds.endpoint, onNotice, log, requestTimeoutMs: PATIENT_MS });
    await watch.start();
    imds.notice = { action: 'terminate' } as { action: string; time: string }; // no time: not a notice to act on
    await step(0, 2);
    await step(NOTICE_POLL_MS, 3);
    await step(NOTICE_POLL_MS, 4);
    watch.stop();
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['cannot read the Spot interruption notice: trying again']);
    expect(onNotice).not.toHaveBeenCalled();
  });

  it('keeps watching when the first request fails on a service known to be there (a busy instance), and sees the notice', async () => {
    const { log, lines } = quietLog();
    const notices: InterruptionNotice[] = [];
    imds.failTokens = 1;
    const watch = new InterruptionWatch({ endpoint: imds.endpoint, serviceKnown: true, onNotice: (n) => void notices.push(n), log, requestTimeoutMs: PATIENT_MS });
    expect(await watch.start()).toBe(true);
    imds.notice = { action: 'terminate', time: '2026-12-02T07:00:00Z' };
    await step(0, 3, () => notices.length > 0); // the refused token, a new one, the notice
    expect(notices.map((n) => n.action)).toEqual(['terminate']);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['cannot read the Spot interruption notice: trying again', 'Spot interruption notice']);
  });

  it('stays off without a word where there is no metadata service (not on EC2)', async () => {
    jest.useRealTimers();
    await imds.close();
    const { log, lines } = quietLog();
    const onNotice = jest.fn();
    const watch = new InterruptionWatch({ endpoint: imds.endpoint, onNotice, log, requestTimeoutMs: 500 });
    expect(await watch.start()).toBe(false);
    expect(lines).toEqual([]);
    expect(onNotice).not.toHaveBeenCalled();
    imds = new FakeImds();
    await imds.start(); // for afterEach
  });
});
