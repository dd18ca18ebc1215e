import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestStack, WORKSPACE_ROOT, type TestStack } from '@tools/testing';
import { closeTier, startWebApp, type WebApp } from '../../test/web-test-kit';

const COMMITTED = join(WORKSPACE_ROOT, 'apps/web-tier/openapi.json');

interface Operation {
  operationId?: string;
  responses: Record<string, unknown>;
}

/** The committed apps/web-tier/openapi.json is the API's contract: the served document must be exactly it. */
describe('the published OpenAPI document', () => {
  let stack: TestStack;
  let web: WebApp | undefined;

  beforeAll(async () => {
    stack = await startTestStack();
    // Keys on: Swagger UI is off, the document is served all the same.
    web = await startWebApp(stack, { API_KEYS: 'a-key-that-is-long-enough-0123456789abcdef' });
  });
  afterAll(async () => {
    await closeTier(web);
    await stack?.stop();
  });

  it('is served at /openapi.json without a key and equals the committed file (run `npm run openapi` after an API change)', async () => {
    if (!web) throw new Error('the web tier is not running');
    expect((await fetch(`${web.url}/docs`)).status).toBe(404);
    const res = await fetch(`${web.url}/openapi.json`);
    expect(res.status).toBe(200);
    const served = (await res.json()) as { paths: Record<string, Record<string, Operation>> };
    expect(served).toEqual(JSON.parse(readFileSync(COMMITTED, 'utf8')));

    const operations = Object.values(served.paths).flatMap((p) => Object.values(p));
    const ids = operations.map((o) => o.operationId);
    expect(ids).toEqual(expect.arrayContaining(['createBatch', 'addImages', 'closeBatch', 'listBatches', 'getBatch', 'exportResults', 'deleteBatch', 'uploadImages', 'getImage', 'followBatch', 'classify']));
    expect(new Set(ids).size).toBe(ids.length);
    // Every operation declares its errors (at least the rate limit every route has).
    for (const o of operations) expect([o.operationId, Object.keys(o.responses).some((s) => s.startsWith('4'))]).toEqual([o.operationId, true]);
  });
});
