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

/** Whether a request is a ReceiveMessage that waits (AWS JSON 1.0, as the client and QueueRequests send it). */
function isLongPoll(request: { headers?: Record<string, string>; body?: unknown }): boolean {
  if (request.headers?.['x-amz-target'] !== 'AmazonSQS.ReceiveMessage' || typeof request.body !== 'string') return false;
  return ((JSON.parse(request.body) as { WaitTimeSeconds?: number }).WaitTimeSeconds ?? 0) > 0;
}

/**
 * Resolves when `sqs` next sends a long poll (a ReceiveMessage that waits), as the request
 * reaches the client's HTTP handler (whether it comes from an SDK command or from
 * QueueRequests): a test can then send a message that the open poll must pick up.
 */
export function nextLongPoll(sqs: SQSClient): Promise<void> {
  type Handle = (request: { headers?: Record<string, string>; body?: unknown }, options?: unknown) => Promise<unknown>;
  const handler = sqs.config.requestHandler as unknown as { handle: Handle };
  const own = Object.prototype.hasOwnProperty.call(handler, 'handle');
  const original = handler.handle;
  return new Promise((resolve) => {
    handler.handle = function (this: unknown, request, options) {
      if (isLongPoll(request)) {
        if (own) handler.handle = original;
        else delete (handler as { handle?: Handle }).handle;
        resolve();
      }
      return original.call(this, request, options);
    };
  });
}
