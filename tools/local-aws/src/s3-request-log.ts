/** What of a Koa app (s3rver is one) its request log is taken out of: the middleware, by name. */
export interface MiddlewareChain {
  middleware: { readonly name: string }[];
}

/**
 * Takes s3rver's request log out of its middleware chain. s3rver logs every request through
 * koa-logger even when `silent` is set: the line is timed, measured, coloured and formatted, and
 * only then dropped by the silent transport. That cost about 0.9 ms of CPU per S3 request, more
 * than storing the object. Errors still reach s3rver's own logger. Call before `callback()`.
 */
export function dropS3RequestLog(app: MiddlewareChain): void {
  const at = app.middleware.findIndex((fn) => fn.name === 'logger');
  // s3rver 3.7 installs it first; anywhere else means another version that this must be checked against.
  if (at !== 0) throw new Error(`s3rver's request log is not the first middleware (found at ${at}): check dropS3RequestLog against this s3rver version`);
  app.middleware.splice(at, 1);
}
