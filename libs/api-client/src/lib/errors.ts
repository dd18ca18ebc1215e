/** An error answer of the API (`{statusCode, error, message}`), or a transport failure around it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    /** From `Retry-After` (seconds or an HTTP date), when the server sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /**
   * Worth retrying: the server or something before it is busy or broken
   * (5xx, 408, 429, and 409 with Retry-After: the same Idempotency-Key is
   * still in flight). Any other 4xx is an answer about the request itself.
   */
  get transient(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 429 || (this.status === 409 && this.retryAfterMs !== undefined);
  }

  /** Builds the error from a non-2xx response, reading its JSON body when there is one. */
  static async from(res: Response, what: string): Promise<ApiError> {
    const text = await res.text().catch(() => '');
    let error = res.statusText || `HTTP ${res.status}`;
    let message = text.slice(0, 500) || error;
    try {
      const body = JSON.parse(text) as { error?: unknown; message?: unknown };
      if (typeof body.error === 'string') error = body.error;
      if (typeof body.message === 'string') message = body.message;
      else if (Array.isArray(body.message)) message = body.message.join('; ');
    } catch {
      // not JSON (a proxy's error page): keep the text
    }
    return new ApiError(res.status, error, `${what}: ${res.status} ${message}`, parseRetryAfter(res.headers.get('retry-after'), Date.now()));
  }
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * True for a failure to reach the server at all (refused, reset, DNS), which
 * fetch reports as a TypeError. By name, not instanceof: Node's fetch throws
 * its own realm's TypeError, which is not even an `Error` of a VM context's
 * realm (Jest's, for one).
 */
export function isConnectionError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'TypeError';
}
