import type { SQSClient } from '@aws-sdk/client-sqs';

/**
 * Hooks the aws lib's tests wait on instead of a clock. (A lib's tests import nothing of
 * tools/testing, which depends on this lib; nothing here polls, so its `until` is not needed.)
 */

/** Counts calls of a hook (an event listener, a handler); `reached(n)` resolves once it has been called n times in all. */
export class Counter {
  count = 0;
  private waiters: { n: number; resolve: () => void }[] = [];

  readonly tick = (): void => {
    this.count++;
    this.waiters = this.waiters.filter((w) => (w.n <= this.count ? (w.resolve(), false) : true));
  };

  reached(n: number): Promise<void> {
    return n <= this.count ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

let watchers = 0;

/**
 * Resolves when `sqs` next sends a long poll (a ReceiveMessage that waits), as the request
 * leaves the client: a test can then send a message that the open poll must pick up.
 */
export function nextLongPoll(sqs: SQSClient): Promise<void> {
  const name = `long-poll-watch-${++watchers}`;
  return new Promise((resolve) => {
    sqs.middlewareStack.add(
      (next) => async (args) => {
        if (((args.input as { WaitTimeSeconds?: number }).WaitTimeSeconds ?? 0) > 0) {
          sqs.middlewareStack.remove(name);
          resolve();
        }
        return next(args);
      },
      { step: 'finalizeRequest', name },
    );
  });
}
