import { ApiError, isConnectionError } from './errors';
import { parseSse, SseParser, type SseEvent } from './sse';

export interface FollowOptions {
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Wait before reconnecting until the server says otherwise with `retry:` (ms). */
  retryMs?: number;
  /** Failed connections in a row (refused, 5xx, 429) before giving up. */
  maxFailures?: number;
  /** Resume after this event (what an earlier stream's last `id:` was). */
  lastEventId?: string;
  /** The event after which the stream is complete; `done` by default. */
  isLast?: (ev: SseEvent) => boolean;
}

/** Resolves after ms, or rejects at once when the signal aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Follows an event stream until its last event, across reconnects: the server
 * ends a stream after its maximum lifetime (or a proxy drops it), and each
 * reconnect sends `Last-Event-ID`, so only what was missed comes again. A 4xx
 * other than 408/429 is an answer (unknown batch, wrong key) and is thrown;
 * anything transient is retried, up to `maxFailures` connections in a row.
 */
export async function* followSse(url: string, options: FollowOptions = {}): AsyncGenerator<SseEvent> {
  const doFetch = options.fetch ?? fetch;
  const maxFailures = options.maxFailures ?? 5;
  const isLast = options.isLast ?? ((ev: SseEvent) => ev.event === 'done');
  let retryMs = options.retryMs ?? 1000;
  let lastId = options.lastEventId;
  let failures = 0;
  for (;;) {
    let wait = retryMs;
    const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
    if (lastId) headers['Last-Event-ID'] = lastId;
    let res: Response | undefined;
    try {
      res = await doFetch(url, { headers, signal: options.signal });
    } catch (err) {
      if (options.signal?.aborted || !isConnectionError(err) || ++failures >= maxFailures) throw err;
    }
    if (res && (!res.ok || !res.body)) {
      const err = await ApiError.from(res, 'events');
      if (!err.transient || ++failures >= maxFailures) throw err;
      if (err.retryAfterMs !== undefined) wait = Math.max(wait, err.retryAfterMs);
    } else if (res?.body) {
      failures = 0;
      const parser = new SseParser();
      try {
        for await (const ev of parseSse(res.body, parser)) {
          yield ev;
          if (isLast(ev)) return;
        }
      } catch (err) {
        // The connection dropped mid-stream: reconnect below (unless we were told to stop).
        if (options.signal?.aborted) throw err;
      } finally {
        if (parser.lastEventId) lastId = parser.lastEventId;
        if (parser.retryMs !== undefined) retryMs = parser.retryMs;
      }
      wait = retryMs;
    }
    await abortableSleep(wait, options.signal);
  }
}
