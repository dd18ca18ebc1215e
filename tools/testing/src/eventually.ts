/**
 * Waiting in tests: on a condition, never on a guessed duration. `eventually`
 * polls a check until it yields a value; the failure names what was awaited
 * and the last error the check threw, so a timeout explains itself.
 */

/** A plain delay. In specs, only where no event exists to wait on (say why beside the call). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls check() until it returns something other than undefined or false (or
 * stops throwing), then resolves with that value; rejects after timeoutMs.
 */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/** Waits until cond() is true; the error names `what`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  await eventually(async () => (await cond()) || undefined, timeoutMs, everyMs, what);
}
