import retry, { type TimeoutsOptions } from 'retry';
import { abortableSleep, ApiError, isConnectionError } from '@app/api-client';

/** Back-off between tries: 0.5 s doubling (randomised) up to 30 s, six retries (about a minute in all). */
export const DEFAULT_BACKOFF: TimeoutsOptions = { retries: 6, factor: 2, minTimeout: 500, maxTimeout: 30_000, randomize: true };

/** A failure another try may cure: the server busy or broken (5xx, 408, 429, 409 in flight), or not reached at all. */
export function isTransient(err: unknown): boolean {
  return err instanceof ApiError ? err.transient : isConnectionError(err);
}

export interface RetryOptions {
  backoff?: TimeoutsOptions;
  signal?: AbortSignal;
  /** Told before each wait (for a log line). */
  onRetry?: (err: unknown, waitMs: number, attempt: number) => void;
}

/**
 * Runs `attempt` until it succeeds, retrying transient failures after the
 * `retry` package's back-off schedule, or the server's Retry-After when that
 * is longer. A permanent failure (a 4xx about the request) is thrown at once.
 */
export async function withRetry<T>(attempt: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const waits = retry.timeouts(options.backoff ?? DEFAULT_BACKOFF);
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (options.signal?.aborted || !isTransient(err) || i >= waits.length) throw err;
      const retryAfter = err instanceof ApiError ? (err.retryAfterMs ?? 0) : 0;
      const wait = Math.max(waits[i], retryAfter);
      options.onRetry?.(err, wait, i + 1);
      await abortableSleep(wait, options.signal);
    }
  }
}
