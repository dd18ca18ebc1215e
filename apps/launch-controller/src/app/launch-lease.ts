import type { ObjectStore } from '@app/aws';

/** Where the lease lives in the output bucket (beside the results, never an image id). */
export const LAUNCH_LEASE_KEY = 'control/launch-lease.json';

/** What the lease object holds. */
export interface LeaseRecord {
  holder: string;
  /** Epoch ms after which a standby may take the lease over. */
  expiresAt: number;
  /** Renewals by this holder; also makes every write's bytes (and so its ETag) new. */
  renewals: number;
}

export interface LaunchLeaseOptions {
  /** This process, as the record names it (host and pid, say). */
  holder: string;
  /** A holder that stops renewing loses the lease this long after its last renewal. */
  leaseMs: number;
  /** The bucket the lease object lives in. */
  store: Pick<ObjectStore, 'getIfExists' | 'createIfAbsent' | 'putIfMatch'>;
  now?: () => number;
  key?: string;
}

export type LeaseState = 'holder' | 'standby';

/**
 * One launcher at a time across hosts: a lease that is one S3 object, created
 * with `If-None-Match: *`, renewed with `If-Match` on its own last ETag, and
 * taken over, once expired, with `If-Match` on the stale ETag. Of two
 * processes racing for it exactly one write succeeds; the other stays standby.
 *
 * The holder counts itself as holding only until a safety margin before its
 * own expiry, measured from when it sent the renewal (not when S3 answered),
 * so it stops launching before any standby may start. Errors (S3 down) are
 * not a loss in themselves: the holder keeps the lease until that margin,
 * then steps down.
 */
export class LaunchLease {
  private readonly now: () => number;
  private readonly key: string;
  /** Our last written ETag and until when we may act on it. */
  private held?: { etag: string; validUntil: number; renewals: number };
  private stateValue: LeaseState = 'standby';

  constructor(private readonly options: LaunchLeaseOptions) {
    if (!(options.leaseMs >= 1000)) throw new RangeError(`leaseMs must be at least 1000 (got ${options.leaseMs})`);
    this.now = options.now ?? Date.now;
    this.key = options.key ?? LAUNCH_LEASE_KEY;
  }

  get state(): LeaseState {
    return this.isHeld() ? 'holder' : 'standby';
  }

  /** How often to call refresh(): a third of the lease, so two renewals may fail before it lapses. */
  get refreshEveryMs(): number {
    return Math.floor(this.options.leaseMs / 3);
  }

  /** True while this process may launch. */
  isHeld(): boolean {
    return this.held !== undefined && this.now() < this.held.validUntil;
  }

  /**
   * Renews the lease when held, else takes it when it is free or expired.
   * Resolves with the state afterwards and whether it changed.
   */
  async refresh(): Promise<{ state: LeaseState; changed: boolean; reason: string }> {
    const before = this.stateValue;
    const reason = await this.attempt();
    this.stateValue = this.isHeld() ? 'holder' : 'standby';
    return { state: this.stateValue, changed: this.stateValue !== before, reason };
  }

  /** Gives the lease up (at shutdown): a standby may take it at once. Best effort. */
  async release(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    this.stateValue = 'standby';
    if (!held) return;
    const record: LeaseRecord = { holder: this.options.holder, expiresAt: 0, renewals: held.renewals + 1 };
    await this.options.store.putIfMatch(this.key, JSON.stringify(record), held.etag, { contentType: 'application/json' }).catch(() => undefined);
  }

  private async attempt(): Promise<string> {
    const sentAt = this.now();
    const next = (renewals: number): { record: LeaseRecord; body: string } => {
      const record = { holder: this.options.holder, expiresAt: sentAt + this.options.leaseMs, renewals };
      return { record, body: JSON.stringify(record) };
    };
    // Stop acting a margin before the record's expiry: a standby's clock may run a little ahead.
    const validUntil = sentAt + Math.floor((this.options.leaseMs * 2) / 3);
    try {
      if (this.held) {
        const { body } = next(this.held.renewals + 1);
        const out = await this.options.store.putIfMatch(this.key, body, this.held.etag, { contentType: 'application/json' });
        if (out.outcome === 'replaced') {
          this.held = { etag: out.etag, validUntil, renewals: this.held.renewals + 1 };
          return 'renewed';
        }
        this.held = undefined;
        return out.outcome === 'changed' ? 'another process took the lease' : 'the lease object was removed';
      }
      const current = await this.options.store.getIfExists(this.key);
      if (!current) {
        const { body } = next(0);
        const out = await this.options.store.createIfAbsent(this.key, body, { contentType: 'application/json' });
        if (out.outcome === 'exists') return 'another process created the lease first';
        this.held = { etag: out.etag, validUntil, renewals: 0 };
        return 'created the lease';
      }
      const record = parseRecord(current.body);
      if (record && record.expiresAt > sentAt) return `held by ${record.holder} for ${Math.ceil((record.expiresAt - sentAt) / 1000)} s more`;
      const { body } = next(0);
      const out = await this.options.store.putIfMatch(this.key, body, current.etag, { contentType: 'application/json' });
      if (out.outcome !== 'replaced') return 'another process took the expired lease first';
      this.held = { etag: out.etag, validUntil, renewals: 0 };
      return record ? `took over the lease ${record.holder} let expire` : 'replaced an unreadable lease';
    } catch (err) {
      // Transient (S3 unreachable, throttled): keep what we hold until it lapses on its own.
      return `lease check failed: ${(err as Error).message}`;
    }
  }
}

function parseRecord(body: Buffer): LeaseRecord | undefined {
  try {
    const r = JSON.parse(body.toString('utf8')) as Partial<LeaseRecord>;
    if (typeof r.holder === 'string' && typeof r.expiresAt === 'number' && Number.isFinite(r.expiresAt)) {
      return { holder: r.holder, expiresAt: r.expiresAt, renewals: typeof r.renewals === 'number' ? r.renewals : 0 };
    }
  } catch {
    // unreadable: treated as expired, so a broken object cannot block launching for ever
  }
  return undefined;
}
