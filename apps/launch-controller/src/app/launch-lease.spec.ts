import { AwsClients, AwsResources, ObjectStore } from '@app/aws';
import { loadConfig } from '@app/config';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from '@tools/local-aws';
import { LaunchLease } from './launch-lease';

// Each test makes a few S3/SQS round trips on loopback; the bound is for a loaded machine, not the expected time.
jest.setTimeout(30_000);

/** A clock the test moves by hand: the lease's timing without waiting. */
class ManualClock {
  t = 1_700_000_000_000;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

describe('LaunchLease against the embedded S3 (conditional writes)', () => {
  let aws: LocalAws;
  let clients: AwsClients;
  let store: ObjectStore;
  let n = 0;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
    const config = loadConfig(aws.env);
    clients = new AwsClients(config);
    store = new AwsResources(config, clients).outputBucket;
  });
  afterAll(async () => {
    clients.destroy();
    await aws.stop();
  });

  /** Two controllers sharing one lease key and one clock. */
  function pair(leaseMs = 10_000) {
    const clock = new ManualClock();
    const key = `control/lease-${++n}.json`;
    const a = new LaunchLease({ holder: 'host-a', leaseMs, store, now: clock.now, key });
    const b = new LaunchLease({ holder: 'host-b', leaseMs, store, now: clock.now, key });
    return { clock, key, a, b };
  }

  it('the first to ask holds it; the other stays standby while the holder renews', async () => {
    const { clock, a, b } = pair();
    expect(await a.refresh()).toMatchObject({ state: 'holder', changed: true, reason: 'created the lease' });
    expect(await b.refresh()).toMatchObject({ state: 'standby', changed: false });
    for (let i = 0; i < 5; i++) {
      clock.advance(a.refreshEveryMs);
      expect(await a.refresh()).toMatchObject({ state: 'holder', reason: 'renewed' });
      expect((await b.refresh()).state).toBe('standby');
    }
    expect(a.isHeld()).toBe(true);
    expect(b.isHeld()).toBe(false);
  });

  it('a holder that stops renewing (killed) is replaced once the lease expires, and steps down when it comes back', async () => {
    const { clock, a, b } = pair(10_000);
    await a.refresh();
    clock.advance(9_000);
    expect((await b.refresh()).state).toBe('standby'); // not expired yet
    clock.advance(1_001);
    expect(await b.refresh()).toMatchObject({ state: 'holder', changed: true, reason: 'took over the lease host-a let expire' });
    // The old holder had already stopped acting (its own margin), and learns it lost at its next renewal.
    expect(a.isHeld()).toBe(false);
    expect(await a.refresh()).toMatchObject({ state: 'standby', reason: 'another process took the lease' });
    expect(b.isHeld()).toBe(true);
  });

  it('a holder stops acting before its lease can expire when renewals fail, so two never launch at once', async () => {
    const clock = new ManualClock();
    let down = false;
    const flaky: ConstructorParameters<typeof LaunchLease>[0]['store'] = {
      getIfExists: (k) => (down ? Promise.reject(new Error('s3 unreachable')) : store.getIfExists(k)),
      createIfAbsent: (k, body, o) => (down ? Promise.reject(new Error('s3 unreachable')) : store.createIfAbsent(k, body, o)),
      putIfMatch: (k, body, etag, o) => (down ? Promise.reject(new Error('s3 unreachable')) : store.putIfMatch(k, body, etag, o)),
    };
    const key = `control/lease-${++n}.json`;
    const a = new LaunchLease({ holder: 'host-a', leaseMs: 9_000, store: flaky, now: clock.now, key });
    const b = new LaunchLease({ holder: 'host-b', leaseMs: 9_000, store, now: clock.now, key });
    await a.refresh();
    down = true;
    clock.advance(3_000);
    expect(await a.refresh()).toMatchObject({ state: 'holder', reason: 'lease check failed: s3 unreachable' });
    clock.advance(3_000); // 6 s after the last renewal: past the holder's own margin, before the lease's expiry
    expect(a.isHeld()).toBe(false);
    expect((await b.refresh()).state).toBe('standby');
    clock.advance(3_001);
    expect((await b.refresh()).state).toBe('holder');
    down = false;
    expect((await a.refresh()).state).toBe('standby');
  });

  it('of standbys racing for an expired lease exactly one takes it', async () => {
    const clock = new ManualClock();
    const key = `control/lease-${++n}.json`;
    const old = new LaunchLease({ holder: 'old', leaseMs: 3_000, store, now: clock.now, key });
    await old.refresh();
    clock.advance(3_001);
    const standbys = Array.from({ length: 6 }, (_, i) => new LaunchLease({ holder: `s${i}`, leaseMs: 3_000, store, now: clock.now, key }));
    const states = await Promise.all(standbys.map((s) => s.refresh()));
    expect(states.filter((s) => s.state === 'holder')).toHaveLength(1);
  });

  it('release() at shutdown lets a standby take over at once; an unreadable record does not block launching', async () => {
    const { a, b, key } = pair();
    await a.refresh();
    await a.release();
    expect(a.isHeld()).toBe(false);
    expect((await b.refresh()).state).toBe('holder');

    const clock = new ManualClock();
    await store.put(`${key}.broken`, 'not json');
    const c = new LaunchLease({ holder: 'host-c', leaseMs: 5_000, store, now: clock.now, key: `${key}.broken` });
    expect(await c.refresh()).toMatchObject({ state: 'holder', reason: 'replaced an unreadable lease' });
  });

  it('refuses a lease shorter than a second', () => {
    expect(() => new LaunchLease({ holder: 'x', leaseMs: 10, store })).toThrow(/leaseMs must be at least 1000/);
  });
});
