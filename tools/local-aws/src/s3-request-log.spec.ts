import { dropS3RequestLog, type MiddlewareChain } from './s3-request-log';

// s3rver ships no types.
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => MiddlewareChain;

describe("dropS3RequestLog: s3rver without its per-request log", () => {
  it("removes s3rver's koa-logger, and only it, from the chain it builds", () => {
    const app = new S3rver({ silent: true, directory: '/nonexistent' });
    const before = app.middleware.map((fn) => fn.name);
    expect(before[0]).toBe('logger');
    dropS3RequestLog(app);
    expect(app.middleware.map((fn) => fn.name)).toEqual(before.slice(1));
  });

  it('refuses a chain whose first middleware is not the request log (another s3rver version)', () => {
    const app = { middleware: [{ name: 'cors' }, { name: 'logger' }] };
    expect(() => dropS3RequestLog(app)).toThrow(/not the first middleware \(found at 1\)/);
    expect(app.middleware.map((fn) => fn.name)).toEqual(['cors', 'logger']);
  });
});
