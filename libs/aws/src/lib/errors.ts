/**
 * The few kinds of failure callers act on differently. Every SDK error that
 * leaves an adapter is one of these, with the original as `cause`.
 */
export abstract class AwsAdapterError extends Error {
  abstract readonly retryable: boolean;
  constructor(
    message: string,
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The bucket, key or queue does not exist. */
export class NotFoundError extends AwsAdapterError {
  override readonly name = 'NotFoundError';
  readonly retryable = false;
}

/** The service asked us to slow down, or failed on its side: worth another try later. */
export class RetryableError extends AwsAdapterError {
  override readonly name = 'RetryableError';
  readonly retryable = true;
}

/** Credentials are missing or not allowed to do this. */
export class AccessDeniedError extends AwsAdapterError {
  override readonly name = 'AccessDeniedError';
  readonly retryable = false;
}

/** No answer from the endpoint (refused, reset, DNS, timeout). */
export class UnreachableError extends AwsAdapterError {
  override readonly name = 'UnreachableError';
  readonly retryable = true;
}

/** A conditional request's precondition did not hold (S3: 412 PreconditionFailed). */
export class PreconditionFailedError extends AwsAdapterError {
  override readonly name = 'PreconditionFailedError';
  readonly retryable = false;
}

/** A concurrent operation on the same object got in the way (S3: 409 ConditionalRequestConflict); AWS says retry. */
export class ConflictError extends AwsAdapterError {
  override readonly name = 'ConflictError';
  readonly retryable = true;
}

/** Anything else the service refused (a bad request, a malformed receipt handle). */
export class RequestRejectedError extends AwsAdapterError {
  override readonly name = 'RequestRejectedError';
  readonly retryable = false;
}

const NOT_FOUND = new Set([
  'NoSuchKey',
  'NoSuchBucket',
  'NotFound',
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
  'InvalidInstanceID.NotFound',
]);
const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestLimitExceeded',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'InternalFailure',
  'RequestTimeout',
  'KMS.ThrottlingException',
]);
const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'ExpiredToken',
  'AuthFailure',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: { code?: string };
}

/** Maps any error from an SDK call to one of the adapter's typed errors. */
export function mapAwsError(err: unknown, operation: string): AwsAdapterError {
  if (err instanceof AwsAdapterError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const code = e.Code ?? e.name ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const netCode = e.code ?? e.cause?.code;
  const message = `${operation}: ${code}${e.message && e.message !== code ? `: ${e.message}` : ''}`;
  const opts = { cause: err };
  // Under some runtimes (e.g. a Jest sandbox) the SDK wraps a socket error into
  // a plain Error whose message alone still names the code.
  const netInMessage = /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|EHOSTUNREACH)\b/.test(e.message ?? '');
  if ((netCode && NETWORK.has(netCode)) || netInMessage || e.name === 'TimeoutError') {
    return new UnreachableError(message, operation, opts);
  }
  if (code === 'PreconditionFailed' || status === 412) return new PreconditionFailedError(message, operation, opts);
  if (code === 'ConditionalRequestConflict' || code === 'OperationAborted') return new ConflictError(message, operation, opts);
  if (NOT_FOUND.has(code) || status === 404) return new NotFoundError(message, operation, opts);
  if (DENIED.has(code) || status === 403) return new AccessDeniedError(message, operation, opts);
  if (THROTTLED.has(code) || e.$retryable || status === 429 || (status !== undefined && status >= 500)) {
    return new RetryableError(message, operation, opts);
  }
  return new RequestRejectedError(message, operation, opts);
}

/** Runs one SDK call and maps whatever it throws. */
export async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapAwsError(err, operation);
  }
}
