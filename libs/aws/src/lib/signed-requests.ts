import type { HttpRequest } from '@smithy/core/protocols';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import type { HttpResponse, RetryErrorType, RetryStrategy, RetryStrategyV2, RetryToken, SdkError } from '@smithy/types';
import type { SignatureV4 } from '@smithy/signature-v4';
import { AwsAdapterError, mapAwsError } from './errors';

/**
 * The parts of an SDK client's resolved config a request is made with, outside
 * its command stack (ObjectRequests for S3, QueueRequests for SQS): its HTTP
 * handler (keep-alive agent, timeouts), body collector, clock offset and retry
 * strategy.
 */
export interface ClientParts {
  requestHandler: { handle(request: HttpRequest, options?: { abortSignal?: AbortSignal }): Promise<{ response: HttpResponse }> };
  streamCollector: (stream: unknown) => Promise<Uint8Array>;
  systemClockOffset?: number;
  retryStrategy: () => Promise<RetryStrategy | RetryStrategyV2>;
}

/** What the service answered, whatever its status. */
export interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Signs `request` (with the client's clock offset) and sends it through the client's handler. */
export async function signAndSend(parts: ClientParts, signer: SignatureV4, request: HttpRequest, abortSignal?: AbortSignal): Promise<Answer> {
  const signed = await signer.sign(request, { signingDate: new Date(Date.now() + (parts.systemClockOffset ?? 0)) });
  const { response } = await parts.requestHandler.handle(signed as HttpRequest, abortSignal ? { abortSignal } : undefined);
  const body = await parts.streamCollector(response.body);
  return { statusCode: response.statusCode, headers: response.headers, body };
}

/**
 * `once`, retried as the client retries (its own strategy and retry quota) while
 * the failure may pass; what is left is mapped to the adapter's typed errors. An
 * adapter error `once` throws itself is final.
 */
export async function withClientRetries<T>(parts: ClientParts, operation: string, once: () => Promise<T>): Promise<T> {
  const strategy = await parts.retryStrategy();
  if (!('acquireInitialRetryToken' in strategy)) throw new Error('the client has a legacy retry strategy; requests outside its command stack need a RetryStrategyV2');
  let token: RetryToken = await strategy.acquireInitialRetryToken(operation);
  for (;;) {
    let error: SdkError;
    try {
      const answer = await once();
      strategy.recordSuccess(token);
      return answer;
    } catch (err) {
      error = err as SdkError;
    }
    if (error instanceof AwsAdapterError) throw error;
    try {
      // The strategy retries what it classes as passing, as long as attempts and its retry quota last.
      token = await strategy.refreshRetryTokenForRetry(token, { errorType: retryType(error), error });
    } catch {
      throw mapAwsError(error, operation);
    }
    await new Promise((r) => setTimeout(r, token.getRetryDelay()));
  }
}

/** A failure as the SDK's retry middleware classes it (the same checks, on an error of the same shape). */
function retryType(error: SdkError): RetryErrorType {
  if (isThrottlingError(error)) return 'THROTTLING';
  if (isTransientError(error)) return 'TRANSIENT';
  if (isServerError(error)) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

/** An error shaped as the SDK throws a service's: its code as the name, its HTTP status in $metadata. */
export function serviceError(code: string, message: string, statusCode: number, extra: object = {}): Error {
  return Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode: statusCode }, ...extra });
}

/** `make`, called once per client: what it made is shared by everything on that client (its buckets, its queues). */
export function perClient<C extends object, R>(make: (client: C) => R): (client: C) => R {
  const made = new WeakMap<C, R>();
  return (client) => {
    let result = made.get(client);
    if (result === undefined) made.set(client, (result = make(client)));
    return result;
  };
}

/** `key`'s value in `cache`, made by `make` the first time; a failure is forgotten, so that the next call tries again. */
export function resolvedOnce<K, V>(cache: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> {
  let found = cache.get(key);
  if (!found) {
    found = make();
    found.catch(() => cache.delete(key));
    cache.set(key, found);
  }
  return found;
}
