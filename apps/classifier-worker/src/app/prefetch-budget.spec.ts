import { PrefetchBudget } from './prefetch-budget';

describe('PrefetchBudget', () => {
  it('starts small, then allows half the deadline worth of observed images, within 1..max', () => {
    const b = new PrefetchBudget(20, 120_000);
    expect(b.limit).toBe(4);
    b.observe(140); // EfficientNet-like: hundreds fit, capped at WORKER_PREFETCH
    expect(b.limit).toBe(20);
    const slow = new PrefetchBudget(20, 5000);
    slow.observe(1000); // one image a second, five seconds of deadline
    expect(slow.limit).toBe(2);
    slow.observe(20_000);
    expect(slow.limit).toBe(1); // never 0: a worker always takes one
  });

  it('makes a claim wait for room, admits it when an image finishes, and lets an abort end the wait', async () => {
    const b = new PrefetchBudget(2, 10_000, 2);
    expect(await b.acquire()).toBe(true);
    expect(await b.acquire()).toBe(true);
    let third: boolean | undefined;
    void b.acquire().then((ok) => (third = ok));
    await Promise.resolve();
    expect(third).toBeUndefined();
    b.release();
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(true);
    const abort = new AbortController();
    const fourth = b.acquire(abort.signal);
    abort.abort();
    expect(await fourth).toBe(false);
    expect(b.held).toBe(2);
  });

  it('takes room at once where there is some, and only then', () => {
    const b = new PrefetchBudget(2, 10_000, 2);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    expect(b.held).toBe(2);
    b.release();
    expect(b.tryAcquire()).toBe(true);
    expect(b.held).toBe(2);
  });

  it('refuses a nonsensical maximum', () => {
    expect(() => new PrefetchBudget(0, 1000)).toThrow('prefetch must be a positive integer (got 0)');
  });
});
