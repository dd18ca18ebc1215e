import { HttpException } from '@nestjs/common';
import { InFlightLimits } from './in-flight-limits';

function refusal(fn: () => unknown): { status: number; body: unknown } {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpException) return { status: err.getStatus(), body: err.getResponse() };
    throw err;
  }
  throw new Error('not refused');
}

describe('InFlightLimits', () => {
  const limits = () =>
    new InFlightLimits(
      'uploads',
      [
        { scope: 'per client address', max: 2 },
        { scope: 'per tenant', max: 3 },
      ],
      5,
    );

  it('refuses past any cap with 429 and a retry time, and a refused request counts toward none', () => {
    const l = limits();
    l.acquire(['10.0.0.1', 'a']);
    l.acquire(['10.0.0.1', 'a']);
    expect(refusal(() => l.acquire(['10.0.0.1', 'b']))).toEqual({
      status: 429,
      body: { message: 'too many uploads at once: at most 2 per client address; try again in 5 s', retryAfterSeconds: 5 },
    });
    // The refused one took no place under the tenant cap.
    expect(l.inFlight(1, 'b')).toBe(0);
    l.acquire(['10.0.0.2', 'a']);
    expect((refusal(() => l.acquire(['10.0.0.3', 'a'])).body as { message: string }).message).toBe('too many uploads at once: at most 3 per tenant; try again in 5 s');
    expect(l.acquire(['10.0.0.3', 'b'])).toBeInstanceOf(Function);
  });

  it('gives a place back exactly once', () => {
    const l = limits();
    const release = l.acquire(['10.0.0.1', 'a']);
    l.acquire(['10.0.0.1', 'a']);
    release();
    release();
    expect(l.inFlight(0, '10.0.0.1')).toBe(1);
    expect(l.inFlight(1, 'a')).toBe(1);
    l.acquire(['10.0.0.1', 'a']);
    expect(() => l.acquire(['10.0.0.1', 'a'])).toThrow(HttpException);
  });
});
