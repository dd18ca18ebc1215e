import type { WorkerLogger } from './logger';

/** What EC2's `spot/instance-action` says: the action it will take and when (ISO 8601, UTC). */
export interface InterruptionNotice {
  action: string;
  time: string;
  /** When this worker read it. */
  seenAt: Date;
}

export interface InterruptionWatchOptions {
  /** The instance metadata service (AWS_EC2_METADATA_SERVICE_ENDPOINT). */
  endpoint: string;
  /** Default NOTICE_POLL_MS. */
  pollMs?: number;
  /** Each metadata request gives up after this long (the service answers in milliseconds when it is there). */
  requestTimeoutMs?: number;
  /** Session token lifetime asked for, seconds. */
  tokenTtlSeconds?: number;
  /**
   * The metadata service is known to be there (the worker read its instance id from it at
   * start): a first request that fails is a passing error, retried at each poll, not a sign
   * that there is no service. On a busy machine the first token request can miss its
   * timeout, and the watch must not then stay off for the instance's life.
   */
  serviceKnown?: boolean;
  /** Called once, with the first notice seen; polling stops then. */
  onNotice: (notice: InterruptionNotice) => void | Promise<void>;
  log: WorkerLogger;
}

const ACTION_PATH = '/latest/meta-data/spot/instance-action';

/**
 * How often the notice is looked for. AWS suggests every 5 s, but each moment the notice
 * goes unseen the held images wait: they are to be answered within 10 s of the notice,
 * and a replacement's boot takes most of that. At 1 s the notice was seen 0.4 to 1.7 s
 * late under load (`npm run chaos:spot`). Four local metadata GETs a second (well under
 * a millisecond of CPU each) are nothing beside the service's limit (1,024 packets/s).
 */
export const NOTICE_POLL_MS = 250;

/**
 * Watches the instance metadata for EC2's Spot interruption notice (IMDSv2: a
 * session token, then `spot/instance-action` with it), two minutes before EC2
 * takes the instance back. The path answers 404 until then, as on AWS.
 * Where the metadata service cannot be reached at all (not on EC2) the watch
 * stays off without a warning. A failed check later on is logged once and
 * tried again at the next poll: a notice must not be missed for a passing error.
 * There is no IMDS client for arbitrary paths among the project's packages
 * (the SDK's is for credentials only), hence this small fetch.
 */
export class InterruptionWatch {
  private readonly base: string;
  private readonly pollMs: number;
  private token?: { value: string; expiresAt: number };
  private timer?: NodeJS.Timeout;
  private running = false;
  private failing = false;

  constructor(private readonly o: InterruptionWatchOptions) {
    this.base = o.endpoint.replace(/\/+$/, '');
    this.pollMs = o.pollMs ?? NOTICE_POLL_MS;
  }

  /** Resolves true when watching, false when there is no metadata service to watch. */
  async start(): Promise<boolean> {
    if (this.running) return true;
    try {
      await this.session();
    } catch (err) {
      if (!this.o.serviceKnown) return false; // not on EC2 (or metadata turned off): nothing to watch, nothing to say
      this.o.log.warn({ reason: (err as Error).message }, 'cannot read the Spot interruption notice: trying again');
      this.failing = true;
    }
    this.running = true;
    this.o.log.info({ pollSeconds: this.pollMs / 1000 }, 'watching for a Spot interruption notice');
    this.schedule(0);
    return true;
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    // Chained, never overlapping: the next check is timed from the end of this one.
    this.timer = setTimeout(() => void this.check(), ms);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    let notice: InterruptionNotice | undefined;
    try {
      notice = await this.read();
      if (this.failing) this.o.log.info({}, 'instance metadata readable again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.o.log.warn({ reason: (err as Error).message }, 'cannot read the Spot interruption notice: trying again');
      this.failing = true;
    }
    if (!this.running) return;
    if (!notice) return this.schedule(this.pollMs);
    this.stop();
    // Not `time`: that is the log line's own timestamp.
    this.o.log.warn({ action: notice.action, terminateAt: notice.time }, 'Spot interruption notice');
    await this.o.onNotice(notice);
  }

  /** One look at `spot/instance-action`: undefined while there is none (404). */
  private async read(): Promise<InterruptionNotice | undefined> {
    let res = await this.get(ACTION_PATH, await this.session());
    if (res.status === 401) {
      // The token expired or the service restarted: one new session, one more try.
      this.token = undefined;
      res = await this.get(ACTION_PATH, await this.session());
    }
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`${ACTION_PATH}: HTTP ${res.status}`);
    const body = JSON.parse(res.body) as { action?: unknown; time?: unknown };
    if (typeof body.action !== 'string' || typeof body.time !== 'string') throw new Error(`${ACTION_PATH}: unexpected answer ${res.body.slice(0, 100)}`);
    return { action: body.action, time: body.time, seenAt: new Date() };
  }

  private async session(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    const ttl = this.o.tokenTtlSeconds ?? 21600;
    const res = await fetch(`${this.base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) },
      signal: AbortSignal.timeout(this.o.requestTimeoutMs ?? 1000),
    });
    const value = await res.text();
    if (!res.ok) throw new Error(`token: HTTP ${res.status}`);
    // Renewed a minute early, so a check never carries a token that expires on the way.
    this.token = { value, expiresAt: Date.now() + Math.max(1, ttl - 60) * 1000 };
    return value;
  }

  private async get(path: string, token: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`${this.base}${path}`, {
      headers: { 'X-aws-ec2-metadata-token': token },
      signal: AbortSignal.timeout(this.o.requestTimeoutMs ?? 1000),
    });
    return { status: res.status, body: await res.text() };
  }
}
